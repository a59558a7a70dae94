//! The `netconform` command line: arguments parsed here, the work done by [`netconform::cli`].

use std::path::PathBuf;
use std::process::ExitCode;

mod bench;

use netconform::cli::{self, CliError, RunOpts};

/// Declare a Linux network in TOML, build it in a rootless throwaway sandbox, probe it with real
/// packets, and check what the kernel did.
#[derive(clap::Parser)]
#[command(name = "netconform", version, after_help = cli::EXIT_STATUS, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Build and probe scenarios (files, or folders of *.toml)
    #[command(after_help = cli::EXIT_STATUS)]
    Run {
        /// Also print every probe's packets hop by hop (the snapshots' text)
        #[arg(long)]
        paths: bool,
        /// Write each scenario's captures to DIR/<scenario>.pcapng
        #[arg(long, value_name = "DIR")]
        pcap: Option<PathBuf>,
        /// Write the results as JSON, for `diff` and `snapshots`
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
        /// Write the results as JUnit XML: a test suite per scenario, a test case per expectation
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
        /// Scenario files, or folders of *.toml
        #[arg(required = true, value_name = "PATH")]
        files: Vec<PathBuf>,
    },
    /// Validate scenarios without building anything
    #[command(after_help = cli::EXIT_STATUS)]
    Check {
        #[arg(required = true, value_name = "PATH")]
        files: Vec<PathBuf>,
    },
    /// What differs between two runs, in network terms
    ///
    /// A and B are scenario files (run now) or `run --json` results (the same suite on two
    /// kernels, say).
    Diff { a: PathBuf, b: PathBuf },
    /// Compare a `run --json` result with the committed snapshots/
    ///
    /// For a result from a VM on another kernel, say: a diff per scenario that differs.
    Snapshots {
        #[arg(value_name = "RESULT.json")]
        result: PathBuf,
        /// Write a snapshot for each scenario that has none (one this machine's kernel cannot
        /// run), from this result; never overwrites one
        #[arg(long)]
        write_missing: bool,
    },
    /// Run every scenario N times and report any whose results varied
    ///
    /// Four runs per core at a time; a scenario varies when its verdicts or its packet paths
    /// differ between runs.
    Flake {
        /// How many times each scenario runs
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(2..=10_000))]
        runs: u64,
        #[arg(required = true, value_name = "PATH")]
        files: Vec<PathBuf>,
    },
    /// Which settings of each scenario no expectation would notice
    ///
    /// Removes each element of its configuration in turn (route, run line, sysctl, address,
    /// MAC, MTU, bridge port, link), runs the scenario again, and says whether some
    /// expectation's verdict changed, only the paths did, nothing did, or the variant could not
    /// be built. A line ending in `# coverage: ignore (reason)` is an accepted exception.
    #[command(after_help = cli::EXIT_STATUS)]
    Coverage {
        /// Exit 1 when a scenario's coverage is below this percentage
        #[arg(long, value_name = "PERCENT", value_parser = clap::value_parser!(u8).range(0..=100))]
        min: Option<u8>,
        /// Write the table as JSON
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
        #[arg(required = true, value_name = "PATH")]
        files: Vec<PathBuf>,
    },
    /// Benchmark netconform on this machine
    ///
    /// Medians for the Docker scenario and its phases, the same in bash side by side (as root),
    /// 10/100/1000-node stars, dual-stack stars and chains, the whole suite, the Docker
    /// scenario's coverage and `cargo test`.
    Bench {
        /// Samples per measurement
        #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..))]
        runs: u64,
        /// A short run: no 1000-node cases, no `cargo test`
        #[arg(long)]
        quick: bool,
        /// Leave out the bash scripts
        #[arg(long)]
        no_shell: bool,
    },
    /// Print a generated scale scenario
    Gen {
        #[arg(value_enum)]
        kind: cli::GenKind,
        /// Nodes (a star's leaves, a chain's routers)
        #[arg(value_parser = clap::value_parser!(u64).range(1..=4095))]
        n: u64,
        /// Permanent neighbour entries for every probe's first hop (no ARP or neighbour discovery)
        #[arg(long)]
        permanent_neighbors: bool,
        /// Every star node pings the bridge over IPv6 too
        #[arg(long)]
        dual_stack: bool,
    },
    /// Draw a scenario's topology: nodes, bridges, links with interfaces and addresses
    Graph {
        /// The scenario
        file: PathBuf,
        /// dot (Graphviz), mermaid (GitHub renders it), or svg (drawn by Graphviz's `dot`)
        #[arg(long, value_enum, default_value_t = cli::GraphFormat::Dot)]
        format: cli::GraphFormat,
        /// A `run --json` result of this scenario: draw the path one probe took (--probe)
        #[arg(long, value_name = "RESULT.json", requires = "probe")]
        result: Option<PathBuf>,
        /// Which check of the result, counted from 1 in report order
        #[arg(long, value_name = "N", requires = "result", value_parser = clap::value_parser!(u64).range(1..))]
        probe: Option<u64>,
        /// Draw the network as it is after this step (links set down dashed, MTUs changed)
        #[arg(long, value_name = "NAME")]
        step: Option<String>,
    },
    /// Print the JSON Schema of the scenario format (for editors: see the README)
    Schema,
    /// Write a scenario from a live network namespace (only reads)
    ///
    /// The current namespace, a named one (`ip netns`), or a process's: its veths (followed
    /// into the named namespaces they lead to), bridges and ports, addresses, routes, rules, the
    /// sysctls that matter, the iptables and nftables rules as `run` lines, and route
    /// expectations of what the kernel answers now. Entering another namespace needs root.
    Import {
        /// Import the named namespace (`/run/netns/NAME`)
        #[arg(long, value_name = "NAME", conflicts_with = "pid")]
        netns: Option<String>,
        /// Import the namespace of a process (a container's)
        #[arg(long, value_name = "PID")]
        pid: Option<u32>,
        /// Write the scenario here instead of standard output
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// For vm/run: every program the scenarios' `run` lines call, one per line
    #[command(name = "__programs", hide = true)]
    Programs { files: Vec<PathBuf> },
}

fn main() -> ExitCode {
    // A caller's open descriptors go to no program this one starts.
    netconform::sandbox::close_inherited_fds(true);
    // The worker must start before any thread exists (see sandbox::enter).
    if std::env::args().nth(1).as_deref() == Some("__worker") {
        return ExitCode::from(netconform::worker::main() as u8);
    }
    // PID 1 of the VM that vm/run boots, where the binary is /init next to a marker file. All
    // three must hold: this path powers the machine off.
    if netconform::vm_guest::is_vm_init() {
        netconform::vm_guest::main();
    }
    // Like other command-line tools, end quietly when the reader of our output goes away
    // (`netconform ... | head`) instead of panicking on a broken pipe.
    // SAFETY: restoring the default disposition of one signal before any thread exists.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    // Usage errors exit 2, `--help` and `--version` 0 (clap's own statuses).
    let cli = <Cli as clap::Parser>::parse();
    match dispatch(cli.command) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            let code = e.downcast_ref::<CliError>().map_or(2, CliError::exit_code);
            if let Some(h) = e.downcast_ref::<CliError>().and_then(CliError::hint) {
                eprintln!("hint: {h}");
            }
            ExitCode::from(code)
        }
    }
}

fn dispatch(command: Command) -> anyhow::Result<u8> {
    Ok(match command {
        Command::Run {
            paths,
            pcap,
            json,
            junit,
            files,
        } => run(paths, pcap, json, junit, &files)?,
        Command::Check { files } => cli::check(&cli::scenario_files(&files)?),
        Command::Flake { runs, files } => cli::flake(&cli::scenario_files(&files)?, runs as usize)?,
        Command::Coverage { min, json, files } => coverage(min, json, &files)?,
        Command::Diff { a, b } => cli::diff(&a, &b)?,
        Command::Snapshots {
            result,
            write_missing,
        } => cli::snapshots(&result, write_missing)?,
        Command::Bench {
            runs,
            quick,
            no_shell,
        } => bench(runs, quick, no_shell)?,
        Command::Gen {
            kind,
            n,
            permanent_neighbors,
            dual_stack,
        } => cli::gen(kind, n as usize, permanent_neighbors, dual_stack)?,
        Command::Graph {
            file,
            format,
            result,
            probe,
            step,
        } => graph(&file, format, result, probe, step.as_deref())?,
        Command::Import { netns, pid, output } => cli::import(netns, pid, output.as_deref())?,
        Command::Schema => cli::schema()?,
        Command::Completions { shell } => completions(shell),
        Command::Programs { files } => cli::programs(&files)?,
    })
}

fn coverage(min: Option<u8>, json: Option<PathBuf>, files: &[PathBuf]) -> Result<u8, CliError> {
    let files = cli::scenario_files(files)?;
    cli::prepare_outputs(&files, &[("--json", &json)])?;
    let min = min.map(usize::from);
    let opts = RunOpts {
        min,
        json,
        ..RunOpts::default()
    };
    cli::coverage(&files, &opts)
}

fn bench(runs: u64, quick: bool, no_shell: bool) -> anyhow::Result<u8> {
    let opts = bench::Opts {
        runs: runs as usize,
        quick,
        shell: !no_shell,
    };
    bench::bench(&cli::current_exe()?, &opts)
}

fn graph(
    file: &std::path::Path,
    format: cli::GraphFormat,
    result: Option<PathBuf>,
    probe: Option<u64>,
    step: Option<&str>,
) -> Result<u8, CliError> {
    let mark = match (result, probe) {
        (Some(r), Some(n)) => cli::highlight(file, &r, n)?,
        _ => Default::default(),
    };
    cli::graph(file, format, mark, step)
}

fn completions(shell: clap_complete::Shell) -> u8 {
    let mut cmd = <Cli as clap::CommandFactory>::command();
    clap_complete::generate(shell, &mut cmd, "netconform", &mut std::io::stdout());
    0
}

/// `run`: every output checked before anything runs, then the scenarios.
fn run(
    paths: bool,
    pcap: Option<PathBuf>,
    json: Option<PathBuf>,
    junit: Option<PathBuf>,
    files: &[PathBuf],
) -> Result<u8, CliError> {
    let files = cli::scenario_files(files)?;
    cli::prepare_outputs(&files, &[("--json", &json), ("--junit", &junit)])?;
    if let Some(dir) = &pcap {
        netconform::output::prepare_dir("--pcap", dir)?;
    }
    let opts = RunOpts {
        paths,
        pcap,
        json,
        junit,
        ..RunOpts::default()
    };
    cli::run(&files, &opts)
}
