//! `edgemq ctl`'s command line: the options through argh, the command
//! words by hand (one enum, no derive per command: the flash budget).

use std::path::PathBuf;

use argh::FromArgs;

/// Ask a running broker through its admin API (admin_listener). COMMAND:
/// status | clients [--online] | client ID | kick ID [--session] | subs ID
/// | unsub ID FILTER | groups | retained [--filter F] | bridges | alerts
/// | reload | trajectory ID [--since T] [--until T] | history FILTER [--since T]
/// [--until T] (T: ms since the epoch or RFC 3339)
#[derive(FromArgs, Debug, Clone, PartialEq, Eq)]
#[argh(subcommand, name = "ctl")]
pub struct CtlArgs {
    /// the broker's config file, for admin_listener and the token
    /// (default /etc/edgemq/edgemq.conf)
    #[argh(option, short = 'c', default = "PathBuf::from(DEFAULT_CONFIG)")]
    pub config: PathBuf,
    /// the API's address instead of admin_listener: http://IP:PORT
    #[argh(option)]
    pub url: Option<String>,
    /// the token file instead of the config's
    #[argh(option)]
    pub token_file: Option<PathBuf>,
    /// print the API's JSON instead of a table
    #[argh(switch)]
    pub json: bool,
    /// clients: only connected ones
    #[argh(switch)]
    pub online: bool,
    /// kick: also delete the client's session
    #[argh(switch)]
    pub session: bool,
    /// retained: only the topics this filter matches
    #[argh(option)]
    pub filter: Option<String>,
    /// trajectory, history: from this time on (ms since the epoch or
    /// RFC 3339)
    #[argh(option)]
    pub since: Option<String>,
    /// trajectory, history: up to this time
    #[argh(option)]
    pub until: Option<String>,
    /// the command and its arguments
    #[argh(positional, arg_name = "COMMAND")]
    pub words: Vec<String>,
}

/// Where packages install the config file.
pub const DEFAULT_CONFIG: &str = "/etc/edgemq/edgemq.conf";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CtlCommand {
    Status,
    Clients { online: bool },
    Client(String),
    Kick { id: String, session: bool },
    Subs(String),
    Unsub { id: String, filter: String },
    Groups,
    Retained { filter: Option<String> },
    Bridges,
    Alerts,
    Reload,
    Trajectory { id: String, range: Range },
    History { filter: String, range: Range },
}

/// `--since` and `--until`, in ms since the epoch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Range {
    pub since: Option<u64>,
    pub until: Option<u64>,
}

impl Range {
    /// `since=…&until=…&` for the API's query string.
    pub fn query(self) -> String {
        let mut q = String::new();
        if let Some(since) = self.since {
            q.push_str(&format!("since={since}&"));
        }
        if let Some(until) = self.until {
            q.push_str(&format!("until={until}&"));
        }
        q
    }
}

impl CtlArgs {
    fn range(&self) -> Result<Range, String> {
        let time = |t: &Option<String>| t.as_deref().map(super::when::parse).transpose();
        Ok(Range {
            since: time(&self.since)?,
            until: time(&self.until)?,
        })
    }

    /// The command the words name; `Err`: a usage message.
    pub fn command(&self) -> Result<CtlCommand, String> {
        let words: Vec<&str> = self.words.iter().map(String::as_str).collect();
        let command = match words.as_slice() {
            ["status"] => CtlCommand::Status,
            ["clients"] => CtlCommand::Clients {
                online: self.online,
            },
            ["client", id] => CtlCommand::Client((*id).to_owned()),
            ["kick", id] => CtlCommand::Kick {
                id: (*id).to_owned(),
                session: self.session,
            },
            ["subs", id] => CtlCommand::Subs((*id).to_owned()),
            ["unsub", id, filter] => CtlCommand::Unsub {
                id: (*id).to_owned(),
                filter: (*filter).to_owned(),
            },
            ["groups"] => CtlCommand::Groups,
            ["retained"] => CtlCommand::Retained {
                filter: self.filter.clone(),
            },
            ["bridges"] => CtlCommand::Bridges,
            ["alerts"] => CtlCommand::Alerts,
            ["trajectory", id] => CtlCommand::Trajectory {
                id: (*id).to_owned(),
                range: self.range()?,
            },
            ["history", filter] => CtlCommand::History {
                filter: (*filter).to_owned(),
                range: self.range()?,
            },
            ["reload"] => CtlCommand::Reload,
            [] => return Err("a command is needed (see edgemq ctl --help)".to_owned()),
            [word, ..] => {
                return Err(format!(
                    "unknown command or wrong arguments: {word} (see edgemq ctl --help)"
                ))
            }
        };
        Ok(command)
    }
}
