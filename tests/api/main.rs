//! Integration tests: each starts the real server on a random port with a temporary
//! SQLite file and talks to it over HTTP, as a browser or client would.

mod helpers;

mod durability;
mod foundation;
mod proxy;
mod sdk;
