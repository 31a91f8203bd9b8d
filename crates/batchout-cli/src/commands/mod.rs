//! One small function per command; each calls the library and prints.

mod fetch;
mod generate;
mod list;
mod names;
mod output_files;
mod prepare;
mod remove;
mod run;
mod sas_check;
mod save;
mod serve;
mod share;
mod spelling;
mod track;

use crate::cli::{Cli, Command};
use crate::config::{self, Context};
use crate::exit;
use crate::print::Printer;

/// Runs the parsed command line, and gives the exit code of a success (`run`
/// passes on its command's).
pub async fn run(cli: Cli) -> anyhow::Result<u8> {
    let printer = Printer::new(cli.json, cli.quiet);
    let settings = config::store_settings(&cli)?;
    let progress = config::progress_wanted(&cli);
    let context = || Context::new(cli.store.as_deref(), &settings, progress);
    // `run` and `track` pass on their command's exit code; every other command
    // exits 0 when it returns.
    let done = |result: anyhow::Result<()>| result.map(|()| exit::SUCCESS);
    match cli.command {
        Command::Run {
            target,
            outputs,
            interval,
            files_at_once,
            command,
        } => {
            let request = run::RunRequest {
                target: &target,
                rules: &outputs,
                interval: &interval,
                concurrency: config::concurrency(files_at_once.concurrency.as_deref())?,
                command,
            };
            run::run(&context()?, request, &printer).await
        }
        Command::Track {
            target,
            kind,
            dest,
            interval,
            file,
            command,
        } => {
            let request = track::TrackRequest {
                target: &target,
                kind: kind.as_deref(),
                dest: dest.as_deref(),
                interval: &interval,
                file: &file,
                command: &command,
            };
            track::track(&context()?, request, &printer).await
        }
        Command::ContainerName { jobs } => done(names::container_name(&jobs, &printer)),
        Command::Path { target, kind, file } => done(names::path(
            &target,
            kind.as_deref(),
            file.as_deref(),
            &printer,
        )),
        Command::Prepare { job } => {
            done(prepare::prepare(&context()?, job.job.as_deref(), &printer).await)
        }
        Command::Sas {
            job,
            expiry,
            permissions,
            check,
            check_url,
            max_task_time,
        } => {
            let request = share::SasRequest {
                job: job.job.as_deref(),
                expiry: &expiry,
                permissions: &permissions,
                check,
                check_url: check_url.as_deref(),
                max_task_time: max_task_time.as_deref(),
            };
            done(share::sas(context, &settings, request, &printer).await)
        }
        Command::OutputFiles {
            job,
            task,
            rules,
            no_logs,
            container_url,
            identity,
            expiry,
            headers,
            command,
        } => {
            let request = output_files::OutputFilesRequest {
                job: job.job.as_deref(),
                task: task.as_deref(),
                rules: &rules,
                logs: !no_logs,
                container_url: container_url.as_deref(),
                identity: identity.as_deref(),
                expiry: &expiry,
                headers: &headers,
                command: command.as_deref(),
            };
            done(output_files::output_files(cli.store.as_deref(), context, request, &printer).await)
        }
        Command::Save {
            target,
            kind,
            dest,
            patterns,
            files,
            files_at_once,
        } => {
            let request = save::SaveRequest {
                target: &target,
                kind: kind.as_deref(),
                dest: dest.as_deref(),
                patterns: &patterns,
                files: &files,
                concurrency: config::concurrency(files_at_once.concurrency.as_deref())?,
            };
            done(save::save(&context()?, request, &printer).await)
        }
        Command::SaveText {
            target,
            kind,
            dest,
            text,
        } => done(
            save::save_text(&context()?, &target, kind.as_deref(), &dest, text, &printer).await,
        ),
        Command::Ls { target, kind } => {
            done(list::ls(&context()?, &target, kind.as_deref(), &printer).await)
        }
        Command::Jobs => done(list::jobs(&context()?, &printer).await),
        Command::Serve { listen, token } => {
            done(serve::serve(&context()?, &listen, token, &printer).await)
        }
        Command::Tasks { job } => {
            done(list::tasks(&context()?, job.job.as_deref(), &printer).await)
        }
        Command::Get {
            target,
            kind,
            path,
            output,
            no_verify,
        } => {
            let request = fetch::GetRequest {
                target: &target,
                kind: kind.as_deref(),
                path: &path,
                destination: output,
                verify: !no_verify,
            };
            done(fetch::get(&context()?, request, &printer).await)
        }
        Command::Download {
            target,
            kind,
            dest,
            files_at_once,
            no_verify,
        } => {
            let request = fetch::DownloadRequest {
                target: &target,
                kind: kind.as_deref(),
                dest: &dest,
                concurrency: config::concurrency(files_at_once.concurrency.as_deref())?,
                verify: !no_verify,
            };
            done(fetch::download(&context()?, request, &printer).await)
        }
        Command::Rm {
            target,
            kind,
            all,
            paths,
        } => done(remove::rm(&context()?, &target, kind.as_deref(), all, &paths, &printer).await),
        Command::Completions { shell } => done(generate::completions(shell)),
        Command::Man { command, dir } => {
            done(generate::man(command.as_deref(), dir.as_deref(), &printer))
        }
    }
}
