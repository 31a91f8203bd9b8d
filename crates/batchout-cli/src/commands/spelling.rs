//! A task asked for by an id whose exact spelling holds nothing: its
//! outputs under other spellings of that id (Batch ids are
//! case-insensitive; blob names are not), found by
//! [`batchout::JobOutputs::task_spellings`], and what `ls`, `get` and
//! `download` say about them on stderr.

use std::future::Future;

use batchout::{JobId, OpenedOutput, Scope, TaskId};

use crate::config::Context;
use crate::print::Printer;

/// The spellings of `asked`, other than itself, that hold outputs: call it
/// once nothing was found under `asked` (it costs a listing of the
/// container's top level).
pub async fn elsewhere(
    context: &Context,
    job: &JobId,
    asked: &TaskId,
) -> anyhow::Result<Vec<TaskId>> {
    let spellings = context.job(job.clone()).task_spellings(asked).await?;
    Ok(spellings.into_iter().filter(|s| s != asked).collect())
}

/// As [`elsewhere`], warning on stderr of what was found; `doing` says,
/// for several spellings, what is done with them.
pub async fn elsewhere_warned(
    context: &Context,
    printer: &Printer,
    job: &JobId,
    asked: &TaskId,
    doing: &str,
) -> anyhow::Result<Vec<TaskId>> {
    let found = elsewhere(context, job, asked).await?;
    if !found.is_empty() {
        printer.warn(warning(asked, &found, doing));
    }
    Ok(found)
}

/// The warning that outputs of `asked` were found under `found` instead;
/// `doing` says, for several, what is done with them.
pub fn warning(asked: &TaskId, found: &[TaskId], doing: &str) -> String {
    match found {
        [one] => format!(
            "warning: no outputs under task {asked}; found them under {one} (Batch task ids are case-insensitive)"
        ),
        several => format!(
            "warning: no outputs under task {asked}; found them under {} spellings of it, {} (Batch task ids are case-insensitive, so all are this task's); {doing}",
            several.len(),
            and_list(several)
        ),
    }
}

/// The groups of `tasks` that are one id but for ASCII case, each of two
/// or more.
pub fn same_but_for_case(tasks: &[TaskId]) -> Vec<Vec<TaskId>> {
    let mut sorted: Vec<&TaskId> = tasks.iter().collect();
    sorted.sort_by_key(|t| t.as_str().to_ascii_lowercase());
    let mut groups: Vec<Vec<TaskId>> = Vec::new();
    for task in sorted {
        match groups.last_mut() {
            Some(group)
                if group
                    .first()
                    .is_some_and(|first| first.as_str().eq_ignore_ascii_case(task.as_str())) =>
            {
                group.push(task.clone());
            }
            _ => groups.push(vec![task.clone()]),
        }
    }
    groups.retain(|group| group.len() > 1);
    groups
}

/// `a`, `a and b`, `a, b and c`.
pub fn and_list(ids: &[TaskId]) -> String {
    let names: Vec<&str> = ids.iter().map(TaskId::as_str).collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => names.join(""),
    }
}

/// `get`'s output under another spelling of `asked`, when `asked` holds no
/// outputs at all: the one spelling that has it (with a warning), else
/// `missing`, the error of the exact spelling. `open` opens the output in
/// a scope.
///
/// # Errors
///
/// `missing` when no other spelling has it; an error naming them when
/// several do, for a task cannot have two files of one name.
pub async fn open_elsewhere<F, Fut>(
    context: &Context,
    job: &JobId,
    asked: &TaskId,
    missing: batchout::Error,
    open: F,
    printer: &Printer,
) -> anyhow::Result<OpenedOutput>
where
    F: Fn(Scope) -> Fut,
    Fut: Future<Output = batchout::Result<OpenedOutput>>,
{
    let found = elsewhere(context, job, asked).await?;
    let mut opened = Vec::new();
    for stored in &found {
        match open(Scope::Task(stored.clone())).await {
            Ok(output) => opened.push((stored.clone(), output)),
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e.into()),
        }
    }
    let holding: Vec<TaskId> = opened.iter().map(|(id, _)| id.clone()).collect();
    match opened.pop() {
        None => Err(missing.into()),
        Some((stored, output)) if opened.is_empty() => {
            let more = if found.len() > 1 {
                format!(
                    "; the task's outputs are under {} spellings, {}",
                    found.len(),
                    and_list(&found)
                )
            } else {
                String::new()
            };
            printer.warn(format!(
                "warning: no outputs under task {asked}; found {} {} under {stored} (Batch task ids are case-insensitive){more}",
                output.output().kind(),
                output.output().file_path(),
            ));
            Ok(output)
        }
        Some((_, output)) => Err(anyhow::anyhow!(
            "no outputs under task {asked}, but {} {} is under {} spellings of it, {} (Batch task ids are case-insensitive, so all are this task's); fetch one by its exact spelling, --task {}",
            output.output().kind(),
            output.output().file_path(),
            holding.len(),
            and_list(&holding),
            holding.first().map_or("", TaskId::as_str),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(names: &[&str]) -> Vec<TaskId> {
        names
            .iter()
            .map(|n| TaskId::new(*n).expect("valid"))
            .collect()
    }

    #[test]
    fn ids_equal_but_for_case_are_grouped_and_named() {
        let tasks = ids(&["Frame7", "a", "frame7", "FRAME7", "b", "B"]);
        let groups = same_but_for_case(&tasks);
        assert_eq!(
            groups,
            [ids(&["b", "B"]), ids(&["Frame7", "frame7", "FRAME7"])]
        );
        assert_eq!(and_list(&groups[1]), "Frame7, frame7 and FRAME7");
        assert_eq!(and_list(&ids(&["a"])), "a");
    }
}
