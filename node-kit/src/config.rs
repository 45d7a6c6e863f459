//! Configuration files for every binary: `--config FILE` (TOML; or `ZG_CONFIG`) whose
//! keys are the long flags without their dashes (`chain.rpc = "http://…"`, or a
//! `[chain]` table with `rpc = …`). Precedence: a flag on the command line, then its
//! environment variable, then the file, then the built-in default. A key that names no
//! flag of the command is an error naming the key and the file.
//!
//! `--config.print` prints the effective configuration (every flag's value and where it
//! came from, secrets redacted) as TOML that `--config` reads back; `--config.example`
//! prints a commented example with every key, its help, environment variable and
//! default. Both exit without running the command.

use std::ffi::OsString;
use std::path::Path;

use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Command, CommandFactory, Parser};

/// Largest configuration file read.
const MAX_CONFIG_BYTES: u64 = 1 << 20;
/// Flag ids this module adds to every command.
const CONFIG: &str = "config";
const PRINT: &str = "config.print";
const EXAMPLE: &str = "config.example";

/// Parses the process's arguments with the configuration file applied; prints and exits
/// on `--help`, errors, `--config.print` and `--config.example`.
pub fn parse<C: Parser>() -> C {
    match try_parse_from::<C>(std::env::args_os()) {
        Ok(Parsed::Run(c)) => c,
        Ok(Parsed::Printed(text)) => {
            print!("{text}");
            std::process::exit(0)
        }
        Err(e) => e.exit(),
    }
}

/// What parsing produced.
#[derive(Debug)]
pub enum Parsed<C> {
    /// The command to run.
    Run(C),
    /// `--config.print` or `--config.example` output; nothing to run.
    Printed(String),
}

/// [`parse`] over given arguments (the first is the program name).
pub fn try_parse_from<C: Parser>(
    args: impl IntoIterator<Item = impl Into<OsString>>,
) -> Result<Parsed<C>, clap::Error> {
    let mut args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let mut cmd = augment(C::command());
    cmd.build();
    // First with nothing required (the file may supply a required flag): which
    // subcommand, which file, and where each value came from.
    let mut relaxed = relax(cmd.clone());
    relaxed.build();
    let first = relaxed.clone().try_get_matches_from(&args)?;
    let (leaf, leaf_matches) = leaf_of(&relaxed, &first);
    if leaf_matches.get_flag(EXAMPLE) {
        return Ok(Parsed::Printed(example(leaf)));
    }
    let file = leaf_matches.get_one::<std::path::PathBuf>(CONFIG).cloned();
    if let Some(path) = &file {
        args.extend(file_args(path, leaf, leaf_matches)?);
    }
    let matches = cmd.clone().try_get_matches_from(&args)?;
    let (leaf, leaf_matches) = leaf_of(&cmd, &matches);
    if leaf_matches.get_flag(PRINT) {
        return Ok(Parsed::Printed(print(leaf, leaf_matches, file.as_deref())));
    }
    C::from_arg_matches(&matches)
        .map(Parsed::Run)
        .map_err(|e| e.format(&mut C::command()))
}

/// Adds `--config`, `--config.print` and `--config.example` (global) to a command.
pub fn augment(cmd: Command) -> Command {
    cmd.arg(
        Arg::new(CONFIG)
            .long(CONFIG)
            .env("ZG_CONFIG")
            .global(true)
            .value_name("FILE")
            .value_parser(clap::value_parser!(std::path::PathBuf))
            .help("TOML file of flag values (keys are the long flags: `chain.rpc = \"…\"`); flags and environment variables override it"),
    )
    .arg(
        Arg::new(PRINT)
            .long(PRINT)
            .global(true)
            .action(ArgAction::SetTrue)
            .help("Print the effective configuration (secrets redacted) and exit"),
    )
    .arg(
        Arg::new(EXAMPLE)
            .long(EXAMPLE)
            .global(true)
            .action(ArgAction::SetTrue)
            .help("Print a commented example configuration file and exit"),
    )
}

/// `cmd` with no argument required, in every subcommand.
fn relax(cmd: Command) -> Command {
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|c| c.get_name().to_owned())
        .collect();
    let mut cmd = cmd.mut_args(|a| a.required(false));
    for n in names {
        cmd = cmd.mut_subcommand(n, relax);
    }
    cmd
}

/// The innermost subcommand given and its matches.
fn leaf_of<'a>(cmd: &'a Command, m: &'a ArgMatches) -> (&'a Command, &'a ArgMatches) {
    match m.subcommand() {
        Some((name, sub)) => match cmd.find_subcommand(name) {
            Some(c) => leaf_of(c, sub),
            None => (cmd, m),
        },
        None => (cmd, m),
    }
}

/// The flags a file may set: every argument with a long name but the config flags,
/// help and version.
fn settable(cmd: &Command) -> impl Iterator<Item = &Arg> {
    cmd.get_arguments().filter(|a| {
        a.get_long().is_some()
            && ![CONFIG, PRINT, EXAMPLE, "help", "version"].contains(&a.get_id().as_str())
    })
}

fn takes_no_value(a: &Arg) -> bool {
    matches!(
        a.get_action(),
        ArgAction::SetTrue | ArgAction::SetFalse | ArgAction::Count
    )
}

fn is_secret(name: &str) -> bool {
    ["token", "password", "secret", "passphrase"]
        .iter()
        .any(|s| name.contains(s))
}

/// Flattens a TOML table to its dotted keys and values (a `[chain]` table's `rpc` is
/// `chain.rpc`), as `--config` reads a file.
pub fn flatten(prefix: &str, table: &toml::Table, out: &mut Vec<(String, toml::Value)>) {
    for (k, v) in table {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::Table(t) => flatten(&key, t, out),
            v => out.push((key, v.clone())),
        }
    }
}

fn scalar(v: &toml::Value) -> Option<String> {
    match v {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        toml::Value::Datetime(d) => Some(d.to_string()),
        _ => None,
    }
}

/// The arguments the file adds: `--key=value` for each key whose flag was given
/// neither on the command line nor in the environment.
fn file_args(path: &Path, cmd: &Command, m: &ArgMatches) -> Result<Vec<OsString>, clap::Error> {
    let err = |msg: String| {
        clap::Error::raw(
            clap::error::ErrorKind::InvalidValue,
            format!("config file {}: {msg}\n", path.display()),
        )
    };
    let len = std::fs::metadata(path)
        .map_err(|e| err(e.to_string()))?
        .len();
    if len > MAX_CONFIG_BYTES {
        return Err(err(format!("{len} bytes; at most {MAX_CONFIG_BYTES}")));
    }
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| err(e.to_string()))?;
    let mut keys = Vec::new();
    flatten("", &table, &mut keys);
    let mut out = Vec::new();
    for (key, value) in keys {
        let Some(arg) = settable(cmd).find(|a| a.get_long() == Some(key.as_str())) else {
            return Err(clap::Error::raw(
                clap::error::ErrorKind::UnknownArgument,
                format!(
                    "config file {}: unknown key `{key}` (no flag --{key} in `{}`)\n",
                    path.display(),
                    cmd.get_name()
                ),
            ));
        };
        let id = arg.get_id().as_str();
        if matches!(
            m.value_source(id),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        ) {
            continue; // flags and the environment win over the file
        }
        let values: Vec<String> = match &value {
            toml::Value::Array(items) => items
                .iter()
                .map(|v| scalar(v).ok_or_else(|| err(format!("`{key}`: nested arrays or tables"))))
                .collect::<Result<_, _>>()?,
            v => vec![scalar(v).ok_or_else(|| err(format!("`{key}`: unsupported value")))?],
        };
        if takes_no_value(arg) {
            match value.as_bool() {
                Some(true) => out.push(OsString::from(format!("--{key}"))),
                Some(false) => {}
                None => return Err(err(format!("`{key}` is a switch: true or false"))),
            }
            continue;
        }
        for v in values {
            out.push(OsString::from(format!("--{key}={v}")));
        }
    }
    Ok(out)
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// The effective configuration as TOML, each value with where it came from.
fn print(cmd: &Command, m: &ArgMatches, file: Option<&Path>) -> String {
    let mut out = format!("# effective configuration of `{}`", cmd.get_name());
    if let Some(f) = file {
        out.push_str(&format!(" (config file {})", f.display()));
    }
    out.push('\n');
    for a in settable(cmd) {
        let long = a.get_long().unwrap_or_default();
        let id = a.get_id().as_str();
        let source = match m.value_source(id) {
            Some(ValueSource::CommandLine) => "flag or config file",
            Some(ValueSource::EnvVariable) => "environment",
            Some(ValueSource::DefaultValue) => "default",
            _ => "unset",
        };
        let line = if takes_no_value(a) {
            let on = m
                .get_raw(id)
                .is_some_and(|mut v| v.next().is_some_and(|x| x == "true"))
                || (matches!(a.get_action(), ArgAction::SetTrue)
                    && m.value_source(id) == Some(ValueSource::CommandLine));
            format!("{long} = {on}")
        } else {
            let values: Vec<String> = m
                .get_raw(id)
                .map(|v| v.map(|x| x.to_string_lossy().into_owned()).collect())
                .unwrap_or_default();
            let shown: Vec<String> = values
                .iter()
                .map(|v| {
                    if is_secret(long) && !v.is_empty() {
                        toml_string("<redacted>")
                    } else {
                        toml_string(v)
                    }
                })
                .collect();
            match shown.len() {
                0 => format!("# {long} = (unset)"),
                1 if a.get_value_delimiter().is_none()
                    && a.get_num_args().is_none_or(|n| n.max_values() <= 1) =>
                {
                    format!("{long} = {}", shown[0])
                }
                _ => format!("{long} = [{}]", shown.join(", ")),
            }
        };
        out.push_str(&format!("{line:<60} # {source}\n"));
    }
    out
}

/// A commented example file: every key with its help, environment variable and
/// default.
fn example(cmd: &Command) -> String {
    let mut out = format!(
        "# Configuration of `{}`: every key is a long flag without its dashes. Flags and\n\
         # environment variables override the file. Uncomment what you change.\n",
        cmd.get_name()
    );
    for a in settable(cmd) {
        let long = a.get_long().unwrap_or_default();
        out.push('\n');
        let help = a
            .get_long_help()
            .or(a.get_help())
            .map(|h| h.to_string())
            .unwrap_or_default();
        for line in textwrap(&help, 84) {
            out.push_str(&format!("# {line}\n"));
        }
        if let Some(env) = a.get_env() {
            out.push_str(&format!("# env: {}\n", env.to_string_lossy()));
        }
        let defaults: Vec<String> = a
            .get_default_values()
            .iter()
            .map(|d| d.to_string_lossy().into_owned())
            .collect();
        let value = if takes_no_value(a) {
            "false".to_owned()
        } else if defaults.is_empty() {
            toml_string("")
        } else if defaults.len() == 1 && a.get_value_delimiter().is_none() {
            toml_string(&defaults[0])
        } else {
            format!(
                "[{}]",
                defaults
                    .iter()
                    .map(|d| toml_string(d))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        out.push_str(&format!("# {long} = {value}\n"));
    }
    out
}

fn textwrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for para in text.lines() {
        let mut line = String::new();
        for word in para.split_whitespace() {
            if !line.is_empty() && line.len() + 1 + word.len() > width {
                lines.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        lines.push(line);
    }
    lines
}

/// The commented example of `C` (for docs and tests).
pub fn example_of<C: CommandFactory>(subcommand: Option<&str>) -> String {
    let mut cmd = augment(C::command());
    cmd.build();
    let leaf = match subcommand {
        Some(s) => cmd
            .find_subcommand(s)
            .expect("a subcommand of the command")
            .clone(),
        None => cmd,
    };
    example(&leaf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, clap::Parser)]
    struct Cli {
        #[command(subcommand)]
        cmd: Sub,
        #[arg(
            long = "log.format",
            env = "ZG_TEST_LOG_FORMAT",
            default_value = "text",
            global = true
        )]
        log: String,
    }

    #[derive(Debug, clap::Subcommand)]
    enum Sub {
        Run(RunArgs),
    }

    #[derive(Debug, clap::Args)]
    struct RunArgs {
        /// Chain endpoint.
        #[arg(long = "chain.rpc", env = "ZG_TEST_CHAIN_RPC", default_value = "http://a")]
        rpc: String,
        /// Workers.
        #[arg(long = "workers", env = "ZG_TEST_WORKERS", default_value_t = 2)]
        workers: u32,
        /// Peers.
        #[arg(long = "peers", value_delimiter = ',')]
        peers: Vec<String>,
        /// A switch.
        #[arg(long = "fast")]
        fast: bool,
        /// Bearer token.
        #[arg(long = "auth.token", env = "ZG_TEST_TOKEN")]
        token: Option<String>,
    }

    fn file(text: &str) -> (crate::TempDir, std::path::PathBuf) {
        let dir = crate::TempDir::new("config");
        let p = dir.0.join("c.toml");
        std::fs::write(&p, text).unwrap();
        (dir, p)
    }

    fn run(args: &[&str]) -> Result<Parsed<Cli>, clap::Error> {
        try_parse_from::<Cli>(std::iter::once("bin").chain(args.iter().copied()))
    }

    fn args(p: Parsed<Cli>) -> (Cli, RunArgs) {
        match p {
            Parsed::Run(c) => {
                let Sub::Run(r) = &c.cmd;
                let r = RunArgs {
                    rpc: r.rpc.clone(),
                    workers: r.workers,
                    peers: r.peers.clone(),
                    fast: r.fast,
                    token: r.token.clone(),
                };
                (c, r)
            }
            Parsed::Printed(t) => panic!("printed {t}"),
        }
    }

    // One test touches the environment (tests run on threads of one process).
    #[test]
    fn precedence_flag_env_file_default() {
        let (_d, p) = file(
            "workers = 7\nfast = true\npeers = [\"x\", \"y\"]\nlog.format = \"json\"\n\n[chain]\nrpc = \"http://file\"\n",
        );
        let ps = p.to_str().unwrap();
        // Default, then file.
        let (_, r) = args(run(&["run"]).unwrap());
        assert_eq!((r.rpc.as_str(), r.workers, r.fast), ("http://a", 2, false));
        let (c, r) = args(run(&["run", "--config", ps]).unwrap());
        assert_eq!(
            (r.rpc.as_str(), r.workers, r.fast),
            ("http://file", 7, true)
        );
        assert_eq!(r.peers, ["x", "y"]);
        assert_eq!(c.log, "json", "global flags too");
        // The environment beats the file, a flag beats both.
        // SAFETY: the only test that sets these variables.
        unsafe { std::env::set_var("ZG_TEST_CHAIN_RPC", "http://env") };
        let (_, r) = args(run(&["run", "--config", ps]).unwrap());
        assert_eq!(r.rpc, "http://env");
        let (_, r) = args(run(&["run", "--config", ps, "--chain.rpc", "http://flag"]).unwrap());
        assert_eq!(r.rpc, "http://flag");
        unsafe { std::env::remove_var("ZG_TEST_CHAIN_RPC") };
        let (_, r) = args(run(&["run", "--workers", "9", "--config", ps]).unwrap());
        assert_eq!(r.workers, 9);
    }

    #[derive(Debug, clap::Parser)]
    struct Required {
        /// Must be given.
        #[arg(long = "datadir")]
        datadir: String,
    }

    #[test]
    fn a_required_flag_may_come_from_the_file() {
        let (_d, p) = file("datadir = \"/var/x\"\n");
        let r = try_parse_from::<Required>(["bin", "--config", p.to_str().unwrap()]).unwrap();
        let Parsed::Run(r) = r else { panic!() };
        assert_eq!(r.datadir, "/var/x");
        assert!(
            try_parse_from::<Required>(["bin"]).is_err(),
            "still required"
        );
        // The example needs nothing.
        assert!(matches!(
            try_parse_from::<Required>(["bin", "--config.example"]).unwrap(),
            Parsed::Printed(_)
        ));
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors_naming_the_key() {
        let (_d, p) = file("[chain]\nrcp = \"typo\"\n");
        let e = run(&["run", "--config", p.to_str().unwrap()]).unwrap_err();
        assert!(e.to_string().contains("unknown key `chain.rcp`"), "{e}");
        let (_d, p) = file("workers = \"many\"\n");
        assert!(run(&["run", "--config", p.to_str().unwrap()]).is_err());
        let (_d, p) = file("fast = 3\n");
        let e = run(&["run", "--config", p.to_str().unwrap()]).unwrap_err();
        assert!(e.to_string().contains("switch"), "{e}");
        let (_d, p) = file("not toml [");
        assert!(run(&["run", "--config", p.to_str().unwrap()]).is_err());
    }

    #[test]
    fn print_redacts_secrets_and_reads_back() {
        let (_d, p) = file("workers = 5\n\"auth.token\" = \"hunter2\"\n");
        let Parsed::Printed(text) =
            run(&["run", "--config", p.to_str().unwrap(), "--config.print"]).unwrap()
        else {
            panic!("not printed")
        };
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("<redacted>"), "{text}");
        assert!(text.contains("workers = \"5\""), "{text}");
        // The printed file (secrets aside) configures the same values.
        let (_d2, p2) = file(&text.replace("\"<redacted>\"", "\"t\""));
        let (_, r) = args(run(&["run", "--config", p2.to_str().unwrap()]).unwrap());
        assert_eq!((r.workers, r.token.as_deref()), (5, Some("t")));
    }

    #[test]
    fn example_lists_every_key_and_parses() {
        let Parsed::Printed(text) = run(&["run", "--config.example"]).unwrap() else {
            panic!("not printed")
        };
        for k in [
            "chain.rpc",
            "workers",
            "peers",
            "fast",
            "auth.token",
            "log.format",
        ] {
            assert!(text.contains(&format!("# {k} = ")), "{k} missing:\n{text}");
        }
        assert!(text.contains("# env: ZG_TEST_CHAIN_RPC"));
        // Uncommented, the example is a valid configuration of the defaults.
        let uncommented: String = text
            .lines()
            .filter_map(|l| l.strip_prefix("# ").filter(|l| l.contains(" = ")))
            .filter(|l| !l.starts_with("env:"))
            .map(|l| format!("{l}\n"))
            .collect();
        let table: Result<toml::Table, _> = uncommented.parse();
        assert!(table.is_ok(), "{uncommented}");
    }
}
