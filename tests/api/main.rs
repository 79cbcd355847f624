//! Integration tests: the real server on an ephemeral port, over HTTP and WebSocket.

mod alertmanager;
mod analytics;
mod auth;
mod bad_input;
mod concurrency;
mod depth;
mod escalation;
mod fanout;
mod hardening;
mod heartbeats;
mod helpers;
mod ingest;
mod lifecycle;
mod maintenance;
mod metrics;
mod notify;
mod rest;
mod retention;
mod schedules;
mod schema;
mod subscriptions;
mod webhooks;
