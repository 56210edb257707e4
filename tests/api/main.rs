//! Integration tests: each starts the real server on a random port with a temporary
//! SQLite file and talks to it over HTTP, as a browser or client would.

mod helpers;
mod seed;

mod browser;
mod chat_fidelity;
mod claude_code;
mod codex;
mod cors;
mod durability;
mod export;
mod faults;
mod foundation;
mod hardening;
mod hardening_pages;
mod keys;
mod limits;
mod logs;
mod messages;
mod ops;
mod outbound;
mod proxy;
mod rag;
mod responses;
mod roles;
mod sdk;
mod teams;
mod test_key;
mod usage;
mod users;
mod walkthrough;
