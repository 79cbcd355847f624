//! Klaxon: an on-call and incident response server.
//!
//! Teams define who is on call (services, schedules, escalation policies); monitoring
//! tools and people trigger incidents; Klaxon pages whoever is on call and escalates level
//! by level until someone acknowledges. Everything is served over GraphQL (queries,
//! mutations, WebSocket subscriptions), with the seed's REST API as an adapter and a web
//! board on top.
//!
//! # Layout
//! - [`domain`]: the pure rules (validation, on-call resolution, the incident state
//!   machine, events). No I/O, no clock reads.
//! - [`store`]: the serving state (DashMaps), the fold of events into it, the journal
//!   seam and its durable SQLite implementation (group commit, snapshots, replay), and the
//!   commands that serialize changes per incident.
//! - [`engine`]: the escalation engine (one task, deadline-ordered timers), the
//!   notifier worker and the outbound webhook worker.
//! - [`auth`]: the door: credentials (bearer tokens, session cookies, one-time links) to a
//!   principal, argon2id passwords, login rate limits; [`secret`]: random secrets,
//!   digests, constant-time comparison. Who may do what is `domain::auth`'s table.
//! - [`graphql`]: the schema roots and thin object types; error codes.
//! - [`http`]: the axum router: GraphQL, GraphiQL, WebSocket, REST adapter, web UI.
//! - [`app`]: wiring and graceful shutdown; [`clock`]: the one time seam; [`demo`]: the
//!   demo team.

pub mod app;
pub mod auth;
pub mod clock;
pub mod demo;
pub mod domain;
pub mod engine;
pub mod graphql;
pub mod http;
pub mod metrics;
pub mod secret;
pub mod store;
