//! `netvigil interfaces`: what can be captured on, and whether this process may.

use anyhow::Result;
use capture::privilege::Privileges;

use crate::console::summary::Console;
use crate::{BadInput, Outcome};

/// Arguments of `netvigil interfaces`.
#[derive(clap::Args, Debug, Clone)]
pub struct InterfacesArgs {
    /// One JSON object per interface instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// Runs `netvigil interfaces`.
pub fn run(args: &InterfacesArgs) -> Result<Outcome> {
    let list = capture::interface::list().map_err(|e| BadInput(e.to_string()))?;
    if args.json {
        for i in &list {
            println!("{}", serde_json::to_string(i)?);
        }
        return Ok(Outcome::Clean);
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|i| {
            let state = match (i.up, i.running) {
                (true, true) => "up",
                (true, false) => "up, no link",
                _ => "down",
            };
            let mut kind = Vec::new();
            if i.loopback {
                kind.push("loopback");
            }
            if i.wireless {
                kind.push("wireless");
            }
            vec![
                i.name.clone(),
                state.to_string(),
                i.link_name.unwrap_or("?").to_string(),
                i.mtu.map(|m| m.to_string()).unwrap_or_default(),
                i.addresses
                    .iter()
                    .map(|(a, p)| match p {
                        Some(p) => format!("{a}/{p}"),
                        None => a.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(" "),
                if i.may_capture { "yes" } else { "no" }.to_string(),
                kind.join(", "),
            ]
        })
        .collect();
    // Standard output may be a pipe: plain, and wide enough for several addresses.
    let console = Console {
        width: 120,
        styled: false,
    };
    print!(
        "{}",
        console.table(
            &[
                "interface",
                "state",
                "link",
                "MTU",
                "addresses",
                "may capture",
                "kind"
            ],
            &rows,
            &[3],
        )
    );
    let p = Privileges::current();
    if !p.may_capture() {
        // The advice is the same as the refusal `capture` would give.
        if let Err(e) = p.check() {
            eprintln!("netvigil: {e}");
        }
    }
    Ok(Outcome::Clean)
}
