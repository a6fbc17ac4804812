//! `edgemq ctl`'s command line (argh), kept beside the command so that
//! src/cli.rs only dispatches to it.

use std::path::PathBuf;

use argh::FromArgs;

/// Ask a running broker through its admin API (admin_listener): its
/// numbers, clients, groups, retained messages and bridges; kick a
/// client, remove a subscription, reload the config.
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
    #[argh(subcommand)]
    pub command: CtlCommand,
}

/// Where packages install the config file.
pub const DEFAULT_CONFIG: &str = "/etc/edgemq/edgemq.conf";

#[derive(FromArgs, Debug, Clone, PartialEq, Eq)]
#[argh(subcommand)]
pub enum CtlCommand {
    Status(Status),
    Clients(Clients),
    Client(Client),
    Kick(Kick),
    Subs(Subs),
    Unsub(Unsub),
    Groups(Groups),
    Retained(Retained),
    Bridges(Bridges),
    Reload(Reload),
}

/// The broker's numbers (GET /api/v1/stats).
#[derive(FromArgs, Debug, Clone, PartialEq, Eq)]
#[argh(subcommand, name = "status")]
pub struct Status {}

/// Every client, online and offline (GET /api/v1/clients).
#[derive(FromArgs, Debug, Clone, PartialEq, Eq)]
#[argh(subcommand, name = "clients")]
pub struct Clients {
    /// only connected clients
    #[argh(switch)]
    pub online: bool,
}

/// One client's details and subscriptions (GET /api/v1/clients/ID).
#[derive(FromArgs, Debug, Clone, PartialEq, Eq)]
#[argh(subcommand, name = "client")]
pub struct Client {
    /// the client id
    #[argh(positional)]
    pub id: String,
}

/// Disconnect a client (DELETE /api/v1/clients/ID).
#[derive(FromArgs, Debug, Clone, PartialEq, Eq)]
#[argh(subcommand, name = "kick")]
pub struct Kick {
    /// the client id
    #[argh(positional)]
    pub id: String,
    /// also delete its session
    #[argh(switch)]
    pub session: bool,
}

/// A client's subscriptions (GET /api/v1/clients/ID/subscriptions).
#[derive(FromArgs, Debug, Clone, PartialEq, Eq)]
#[argh(subcommand, name = "subs")]
pub struct Subs {
    /// the client id
    #[argh(positional)]
    pub id: String,
}

/// Remove a client's subscription (DELETE
/// /api/v1/clients/ID/subscriptions/FILTER).
#[derive(FromArgs, Debug, Clone, PartialEq, Eq)]
#[argh(subcommand, name = "unsub")]
pub struct Unsub {
    /// the client id
    #[argh(positional)]
    pub id: String,
    /// the topic filter, as subscribed
    #[argh(positional)]
    pub filter: String,
}

/// Online clients per GroupID@@DeviceID group (GET /api/v1/groups).
#[derive(FromArgs, Debug, Clone, PartialEq, Eq)]
#[argh(subcommand, name = "groups")]
pub struct Groups {}

/// Retained messages (GET /api/v1/retained).
#[derive(FromArgs, Debug, Clone, PartialEq, Eq)]
#[argh(subcommand, name = "retained")]
pub struct Retained {
    /// only those this topic filter matches
    #[argh(option)]
    pub filter: Option<String>,
}

/// Bridges and their queues (GET /api/v1/bridges).
#[derive(FromArgs, Debug, Clone, PartialEq, Eq)]
#[argh(subcommand, name = "bridges")]
pub struct Bridges {}

/// Re-read the config file, as SIGHUP does (POST /api/v1/reload).
#[derive(FromArgs, Debug, Clone, PartialEq, Eq)]
#[argh(subcommand, name = "reload")]
pub struct Reload {}
