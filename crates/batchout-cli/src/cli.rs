//! The raw command line, as clap parses it. Nothing here is validated beyond
//! its shape: [`crate::config`] turns it into checked values.

use std::path::PathBuf;

use clap::builder::TypedValueParser;
use clap::{Args, Parser, Subcommand};

/// Persist the outputs and logs of batch jobs and tasks under the Batch File
/// Conventions, so anyone can find them later by job id, task id and kind.
#[derive(Debug, Parser)]
#[command(name = "batchout", version)]
pub struct Cli {
    /// Where outputs are stored: a directory, a file:/// URL, an Azure
    /// https:// account or container SAS URL, a connection string, or
    /// s3://BUCKET/PREFIX (with the AWS_* variables)
    /// [env: BATCHOUT_STORE, else AZURE_STORAGE_*] [default: ./batchout-data]
    #[arg(long, global = true, value_name = "STORE")]
    pub store: Option<String>,

    /// Print machine-readable JSON on stdout instead of text.
    #[arg(long, global = true)]
    pub json: bool,

    /// Log more to stderr (-v: what is done, -vv: debug detail).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Print only errors: no progress, warnings, or reports of what was done
    /// ("saved …"). What was asked for is still printed: listings, names,
    /// URLs, --json, `get -o -`. Not with -v.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Attempts in all for each request to a remote store, 1 to 100 [env:
    /// BATCHOUT_RETRIES] [default: 5].
    #[arg(long, global = true, value_name = "N")]
    pub retries: Option<String>,

    /// The longest one request may take, transfers aside, e.g. 30s [env:
    /// BATCHOUT_TIMEOUT] [default: 30s].
    #[arg(long, global = true, value_name = "DURATION")]
    pub timeout: Option<String>,

    /// The longest one operation may take across all its retries, e.g. 5m [env:
    /// BATCHOUT_DEADLINE] [default: 5m].
    #[arg(long, global = true, value_name = "DURATION")]
    pub deadline: Option<String>,

    /// The size of the blocks a large file moves in, up and down, 64KiB to
    /// 4000MiB, e.g. 16MiB [env: BATCHOUT_BLOCK_SIZE] [default: 8MiB].
    #[arg(long, global = true, value_name = "SIZE")]
    pub block_size: Option<String>,

    /// How many blocks of one large file move at once, 1 to 64 [env:
    /// BATCHOUT_BLOCK_CONCURRENCY] [default: 4].
    #[arg(long, global = true, value_name = "N")]
    pub block_concurrency: Option<String>,

    /// How to sign in to Azure Storage: key, sas, token (Entra ID, from the
    /// first source set up: service principal, workload identity, managed
    /// identity, Azure CLI), cli, managed-identity, workload-identity,
    /// service-principal or anonymous [env: BATCHOUT_AUTH] [default: a SAS
    /// or key if given, else token over https].
    #[arg(long, global = true, value_name = "HOW")]
    pub auth: Option<String>,

    /// The client id of the user-assigned managed identity to sign in with
    /// [env: BATCHOUT_IDENTITY_CLIENT_ID, else AZURE_CLIENT_ID].
    #[arg(long, global = true, value_name = "CLIENT_ID")]
    pub identity_client_id: Option<String>,

    /// Show no progress bar. One is shown on stderr, while files move, only
    /// when stderr is a terminal and --json is not given [env:
    /// BATCHOUT_PROGRESS=0].
    #[arg(long, global = true)]
    pub no_progress: bool,

    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// Parses the command line; a wrong one exits with clap's usage error
    /// (exit 2). `-q` with `-v` is one wherever each is written: clap's own
    /// check misses the two on either side of the command's name.
    pub fn parse_checked() -> Self {
        let cli = <Self as Parser>::parse();
        if cli.quiet && cli.verbose > 0 {
            <Self as clap::CommandFactory>::command()
                .error(
                    clap::error::ErrorKind::ArgumentConflict,
                    "the argument '--quiet' cannot be used with '--verbose...'",
                )
                .exit();
        }
        cli
    }
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the output container name of each job id (no store needed).
    ContainerName {
        /// Job ids.
        #[arg(required = true, value_name = "JOB")]
        jobs: Vec<String>,
    },
    /// Print the blob prefix of a kind, or the blob name a file would be saved as
    /// (no store needed).
    Path {
        #[command(flatten)]
        target: Target,
        /// Kind of output.
        #[arg(long, value_name = "KIND")]
        kind: Option<String>,
        /// A local path, named as `save FILE` would name it.
        file: Option<String>,
    },
    /// Create the job's output container if it does not exist.
    Prepare {
        #[command(flatten)]
        job: JobArg,
    },
    /// Print a URL that lets a task save, list and read this job's outputs, and
    /// nothing else (an Azure container SAS URL). Needs the account key, or an
    /// Entra ID token: then a user delegation SAS, of 7 days at most. With
    /// output-files, the one command that prints a secret: the URL is its product.
    /// With --check or --check-url, proves a URL works with nothing else.
    Sas {
        #[command(flatten)]
        job: JobArg,
        /// How long the URL stays valid, e.g. 7d, 12h, 90m.
        #[arg(long, value_name = "DURATION", default_value = "7d")]
        expiry: String,
        /// Permission letters: r read, a add, c create, w write, l list, d delete.
        #[arg(long, value_name = "LETTERS", default_value = batchout::DEFAULT_SAS_PERMISSIONS)]
        permissions: String,
        /// Then check the URL made, with it alone: save, append, read, list
        /// and delete a probe under .batchout-check/, reporting each step on
        /// stderr and the permission a failed one lacks (exit 1).
        #[arg(long)]
        check: bool,
        /// Check this container SAS URL instead of making one (`-`: read it
        /// from standard input, which, unlike a command line, other users
        /// cannot see); the report is printed on stdout.
        #[arg(
            long,
            value_name = "URL",
            conflicts_with_all = ["check", "expiry", "permissions"]
        )]
        check_url: Option<String>,
        /// Warn when the URL expires sooner than this from now: the longest a
        /// task may run, e.g. 12h.
        #[arg(long, value_name = "DURATION")]
        max_task_time: Option<String>,
    },
    /// Print the Batch service's `outputFiles` JSON for a task (or, with
    /// --command, a whole task body), so that the service itself uploads the
    /// task's files under the conventions' names, with no tool on the node.
    OutputFiles {
        #[command(flatten)]
        job: JobArg,
        /// Task id (not taken from AZ_BATCH_TASK_ID: this runs where tasks are
        /// made); without it, the rules are for the job's own outputs.
        #[arg(long, value_name = "TASK")]
        task: Option<String>,
        /// An output rule, PATTERN[:KIND[:CONDITION]], as `run --output` takes
        /// it: a pattern relative to the task's working directory, a kind
        /// (default TaskOutput) and when the service uploads: success
        /// (default), failure or completion. Repeatable.
        #[arg(long = "rule", value_name = "RULE")]
        rules: Vec<String>,
        /// Leave out the default rule that uploads the task's stdout.txt and
        /// stderr.txt as TaskLog on completion (../std*.txt).
        #[arg(long)]
        no_logs: bool,
        /// The job's container URL, with a SAS that allows write, as given
        /// [default: a SAS URL signed with the store's account key or token].
        #[arg(long, value_name = "URL")]
        container_url: Option<String>,
        /// The ARM resource id of the pool's user-assigned managed identity
        /// that uploads; the container URL then carries no SAS.
        #[arg(long, value_name = "RESOURCE_ID")]
        identity: Option<String>,
        /// How long the signed URL stays valid, e.g. 7d, 12h, 90m.
        #[arg(
            long,
            value_name = "DURATION",
            default_value = "7d",
            conflicts_with_all = ["container_url", "identity"]
        )]
        expiry: String,
        /// A header the service sends with each upload, NAME=VALUE (e.g.
        /// x-ms-blob-content-type=text/csv). Repeatable.
        #[arg(long = "header", value_name = "NAME=VALUE")]
        headers: Vec<String>,
        /// Print a whole task body (id, commandLine, outputFiles) with this
        /// command line, for `az batch task create --json-file`.
        #[arg(long, value_name = "CMD", requires = "task")]
        command: Option<String>,
    },
    /// Save files as outputs.
    Save {
        #[command(flatten)]
        target: Target,
        /// Kind of output [default: TaskOutput with a task, JobOutput without].
        #[arg(long, value_name = "KIND")]
        kind: Option<String>,
        /// Destination path for a single FILE, or the folder to store pattern
        /// matches under.
        #[arg(long = "as", value_name = "DEST")]
        dest: Option<String>,
        /// Glob patterns of files to save (`*`, `**`, `?`, `[abc]`, `[!abc]`);
        /// each match is stored by its path below the pattern's fixed folder.
        #[arg(long = "pattern", value_name = "GLOB")]
        patterns: Vec<String>,
        /// Files to save, stored by their path relative to the working directory
        /// (`../stdout.txt` as `stdout.txt`).
        #[arg(value_name = "FILE", value_parser = any_path())]
        files: Vec<PathBuf>,
        #[command(flatten)]
        files_at_once: FilesAtOnce,
    },
    /// Save text (an argument, or standard input) as an output.
    SaveText {
        #[command(flatten)]
        target: Target,
        /// Kind of output [default: TaskOutput with a task, JobOutput without].
        #[arg(long, value_name = "KIND")]
        kind: Option<String>,
        /// Destination path.
        #[arg(long = "as", value_name = "DEST", required = true)]
        dest: String,
        /// The text; read from standard input when absent.
        text: Option<String>,
    },
    /// Run a task's command and persist its logs and outputs: stdout.txt and
    /// stderr.txt (in AZ_BATCH_TASK_DIR, else here) are tracked live as TaskLog,
    /// and on exit the --output rules whose condition holds are uploaded. Exits
    /// with the command's own code (128+N if killed by signal N), or 75 if it
    /// succeeded but something could not be stored.
    Run {
        #[command(flatten)]
        target: Target,
        /// An output rule, PATTERN[:KIND[:CONDITION]]: a glob pattern relative to
        /// the working directory, a kind (default TaskOutput) and when to upload:
        /// success (default), failure or completion. Repeatable.
        #[arg(long = "output", value_name = "RULE")]
        outputs: Vec<String>,
        /// How often the logs are flushed while the command runs (1s at least).
        #[arg(long, value_name = "DURATION", default_value = "15s")]
        interval: String,
        #[command(flatten)]
        files_at_once: FilesAtOnce,
        /// The command and its arguments, after `--`. Run directly, not by a shell.
        #[arg(required = true, last = true, value_name = "CMD")]
        command: Vec<std::ffi::OsString>,
    },
    /// Run a command while mirroring a file it writes (a log) to an output:
    /// what the file gains is stored every --interval, and the rest when the
    /// command ends; a stored copy the file still begins with is continued, and
    /// a rewritten file goes to FILE.2, FILE.3… Exits with the command's own
    /// code (128+N if killed by signal N; 127/126 if it cannot be started), or
    /// 75 if it succeeded but the file could not all be stored.
    Track {
        #[command(flatten)]
        target: Target,
        /// Kind of output [default: TaskOutput with a task, JobOutput without].
        #[arg(long, value_name = "KIND")]
        kind: Option<String>,
        /// Destination path [default: FILE's path, as `save FILE` names it].
        #[arg(long = "as", value_name = "DEST")]
        dest: Option<String>,
        /// How often what the file gained is stored (1s at least).
        #[arg(long, value_name = "DURATION", default_value = "15s")]
        interval: String,
        /// The file to track; it need not exist yet.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// The command and its arguments, after `--`. Run directly, not by a shell.
        #[arg(required = true, last = true, value_name = "CMD")]
        command: Vec<std::ffi::OsString>,
    },
    /// List outputs: of one kind, or all of a task, or all of the job and its tasks.
    Ls {
        #[command(flatten)]
        target: Target,
        /// Only this kind.
        #[arg(long, value_name = "KIND")]
        kind: Option<String>,
    },
    /// List the jobs the store holds outputs for: each job's id (as given
    /// when it was prepared or first saved to, else read from its container's
    /// name; the container's name when neither can be had), its container,
    /// its outputs and their size, and its latest write. A container SAS URL
    /// shows its one job.
    Jobs,
    /// Serve the viewer's API over HTTP, read-only: the store's jobs, their
    /// tasks, outputs and logs as JSON, and the outputs' bytes (see
    /// docs/viewer-api.md). It listens on loopback unless a token guards it.
    Serve {
        /// The address and port to listen on; port 0 picks a free one.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
        listen: String,
        /// A token every request must carry (needed to listen beyond
        /// loopback). Prefer BATCHOUT_SERVE_TOKEN: a command line is visible
        /// to every user of the machine [env: BATCHOUT_SERVE_TOKEN].
        #[arg(long, value_name = "TOKEN")]
        token: Option<String>,
    },
    /// List the ids of the job's tasks that have outputs.
    Tasks {
        #[command(flatten)]
        job: JobArg,
    },
    /// Fetch one output to a file or standard output.
    Get {
        #[command(flatten)]
        target: Target,
        /// Kind of output [default: TaskOutput with a task, JobOutput without].
        #[arg(long, value_name = "KIND")]
        kind: Option<String>,
        /// The output's file path, as `ls` shows it.
        path: String,
        /// Where to write it; `-` for standard output [default: its file name,
        /// in the working directory].
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Do not check the bytes against the checksum recorded when the output
        /// was saved (fetch a copy that no longer matches it).
        #[arg(long)]
        no_verify: bool,
    },
    /// Download outputs into a folder, in parallel.
    Download {
        #[command(flatten)]
        target: Target,
        /// Only this kind.
        #[arg(long, value_name = "KIND")]
        kind: Option<String>,
        /// The folder to download into (created if needed).
        #[arg(long, value_name = "DIR")]
        dest: PathBuf,
        #[command(flatten)]
        files_at_once: FilesAtOnce,
        /// Do not check the bytes against the checksum recorded when each output
        /// was saved (fetch copies that no longer match it).
        #[arg(long)]
        no_verify: bool,
    },
    /// Delete outputs.
    Rm {
        #[command(flatten)]
        target: Target,
        /// Kind of output.
        #[arg(long, value_name = "KIND")]
        kind: Option<String>,
        /// Delete every output in scope (of the kind, or of every kind).
        #[arg(long, conflicts_with = "paths")]
        all: bool,
        /// File paths of the outputs to delete, as `ls` shows them.
        #[arg(value_name = "PATH", required_unless_present = "all")]
        paths: Vec<String>,
    },
    /// Print a shell completion script (no store needed). Bash: `batchout
    /// completions bash > ~/.local/share/bash-completion/completions/batchout`.
    Completions {
        /// The shell.
        #[arg(value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
    /// Print the man page, in roff (no store needed): batchout's, which lists
    /// every command, or one command's; or, with --dir, write every page into
    /// DIR (batchout.1, batchout-save.1…).
    Man {
        /// One command's page (`batchout-save.1` for save).
        #[arg(value_name = "COMMAND", conflicts_with = "dir")]
        command: Option<String>,
        /// Write every page, one file each, into DIR (created if needed),
        /// for a package's man1 folder.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

/// A path, the empty one included, so that its refusal can say why.
fn any_path() -> impl clap::builder::TypedValueParser<Value = PathBuf> {
    clap::builder::OsStringValueParser::new().map(PathBuf::from)
}

/// How many files a command that moves many moves at once.
#[derive(Debug, Args)]
pub struct FilesAtOnce {
    #[arg(long, value_name = "N", help = concurrency_help())]
    pub concurrency: Option<String>,
}

/// The help of `--concurrency`, with the library's default.
fn concurrency_help() -> String {
    format!(
        "How many files move at once, 1 or more [env: BATCHOUT_CONCURRENCY] [default: {}].",
        batchout::DEFAULT_CONCURRENCY
    )
}

/// The job whose container is meant.
#[derive(Debug, Args)]
pub struct JobArg {
    /// Job id [env: AZ_BATCH_JOB_ID].
    #[arg(long, value_name = "JOB")]
    pub job: Option<String>,
}

/// The job, and optionally one of its tasks.
#[derive(Debug, Args)]
pub struct Target {
    /// Job id [env: AZ_BATCH_JOB_ID].
    #[arg(long, value_name = "JOB")]
    pub job: Option<String>,
    /// Task id [env: AZ_BATCH_TASK_ID]; without it, the job's own outputs.
    #[arg(long, value_name = "TASK")]
    pub task: Option<String>,
}
