//! Hash maps for the request path. The standard hasher (SipHash) resists collision
//! attacks on keys an attacker picks; the keys here are ids, model names, origins and
//! key hashes that admins or the config choose, looked up several times per request,
//! so they use foldhash (seeded at random per process), which is several times faster.

/// A `HashMap` with foldhash.
pub type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
