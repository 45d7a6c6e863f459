//! Sizes and protocol constants (EIP-4844 / EIP-7594 and this project's formats).

/// Bytes in one serialized BLS12-381 scalar field element.
pub const BYTES_PER_FIELD_ELEMENT: usize = 32;
/// Field elements in one blob.
pub const FIELD_ELEMENTS_PER_BLOB: usize = 4096;
/// Bytes in one blob (EIP-4844).
pub const BYTES_PER_BLOB: usize = BYTES_PER_FIELD_ELEMENT * FIELD_ELEMENTS_PER_BLOB;
/// Payload bytes packed into one field element (its first byte is always zero).
pub const USABLE_BYTES_PER_ELEMENT: usize = 31;
/// Bytes of the encoded stream one blob carries (126976).
pub const STREAM_BYTES_PER_BLOB: usize = USABLE_BYTES_PER_ELEMENT * FIELD_ELEMENTS_PER_BLOB;
/// `version (1) ‖ payload_len (4)` at the start of the encoded stream.
pub const PAYLOAD_HEADER_LEN: usize = 5;
/// The only payload codec version.
pub const PAYLOAD_VERSION: u8 = 0;
/// Default largest payload (16 MiB).
pub const DEFAULT_MAX_PAYLOAD: usize = 16 * 1024 * 1024;

/// Field elements per cell (EIP-7594).
pub const FIELD_ELEMENTS_PER_CELL: usize = 64;
/// Bytes per cell.
pub const BYTES_PER_CELL: usize = FIELD_ELEMENTS_PER_CELL * BYTES_PER_FIELD_ELEMENT;
/// Cells per extended blob; also the number of columns of a payload.
pub const CELLS_PER_EXT_BLOB: usize = 128;
/// Cells (columns) needed to recover a blob; columns `0..64` are the original data.
pub const DATA_COLUMNS: usize = 64;
/// Bytes of a KZG commitment or proof (compressed G1).
pub const BYTES_PER_COMMITMENT: usize = 48;

/// Domain string of the DA node attestation.
pub const ATTESTATION_DOMAIN: &str = "zg-da/attest/v1";
/// Domain string of a BLS proof of possession message.
pub const POP_DOMAIN: &str = "zg-da/pop/v1";
/// Domain string of a next-epoch registration message.
pub const EPOCH_REGISTRATION_DOMAIN: &str = "zg-da/epoch/v1";
/// Domain string of a disperser's store request authorisation.
pub const STORE_REQUEST_DOMAIN: &str = "zg-da/store/v1";
