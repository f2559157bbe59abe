//! `vsctl ls` and `vsctl find`: inventory paths for configs.

use serde::Serialize;
use vsphere_client::finder::{Finder, InventoryElement, InventoryKind};

use crate::args::{FindArgs, LsArgs};
use crate::session::connect;
use crate::{CliError, Output};

pub async fn ls(args: &LsArgs) -> Result<Output, CliError> {
    let client = connect(&args.session).await?;
    let finder = Finder::load(&client, args.session.datacenter.as_deref()).await;
    let _ = client.logout().await;
    let items = finder?.list(args.path.as_deref())?;
    render(&items, args.session.server.json, args.long)
}

pub async fn find(args: &FindArgs) -> Result<Output, CliError> {
    let kind = match args.kind.as_deref() {
        None => InventoryKind::Any,
        Some(t) => InventoryKind::from_govc_type(t).ok_or_else(|| {
            CliError::usage(format!(
                "unknown -type '{t}': use a b c d f g h m n o p r s w or a vim25 type such as VirtualMachine"
            ))
        })?,
    };
    let client = connect(&args.session).await?;
    let finder = Finder::load(&client, args.session.datacenter.as_deref()).await;
    let _ = client.logout().await;
    let items = finder?.find_below(args.root.as_deref(), kind, &args.name)?;
    render(&items, args.session.server.json, args.long)
}

#[derive(Serialize)]
struct Row<'a> {
    path: &'a str,
    name: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    moref: String,
}

fn render(items: &[InventoryElement], json: bool, long: bool) -> Result<Output, CliError> {
    if json {
        let rows: Vec<Row> = items
            .iter()
            .map(|e| Row {
                path: &e.path,
                name: &e.name,
                kind: &e.obj.kind,
                moref: e.obj.to_string(),
            })
            .collect();
        let text =
            serde_json::to_string_pretty(&rows).map_err(|e| CliError::runtime(e.to_string()))?;
        return Ok(Output::stdout(text + "\n"));
    }
    let mut text = String::new();
    for e in items {
        if long {
            text.push_str(&format!("{} ({})\n", e.path, e.obj));
        } else {
            text.push_str(&e.path);
            text.push('\n');
        }
    }
    Ok(Output::stdout(text))
}
