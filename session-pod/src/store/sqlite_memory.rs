//! SQLite's own memory per connection, which a process holding one `gateway.db` and one
//! `whatsapp.db` per session pays a thousand times over. Measured with `scripts/scale.sh`:
//! the defaults (a 48 KiB lookaside buffer and a bulk page-cache allocation per connection,
//! a cache growing to 512 KiB, and the library's cache of every statement it ever prepared)
//! were most of a linked session's resident memory.

use std::sync::Once;

use rusqlite::Connection;
use rusqlite::ffi;

/// Page cache of `gateway.db`, per session. Its hot rows (the outbox head, settings) fit;
/// everything else comes from the OS page cache, which the kernel can reclaim.
pub(super) const GATEWAY_CACHE_KIB: u32 = 32;
/// Page cache of the library's `whatsapp.db`, per session: identity and pre-keys are read
/// once at login, Signal sessions are cached by the library itself above SQLite.
const WHATSAPP_STORE_CACHE_KIB: u32 = 32;

/// The library's store configuration for one session: a small page cache, and no cache of
/// prepared statements. diesel keeps every distinct statement it ran compiled for the life
/// of the connection, ~90 KiB per session once linked (heap profile, `scripts/scale.sh`);
/// re-preparing costs microseconds on a send that costs hundreds.
pub fn whatsapp_store_config() -> whatsapp_rust::store::SqliteStoreConfig {
    whatsapp_rust::store::SqliteStoreConfig {
        cache_size_kib: WHATSAPP_STORE_CACHE_KIB,
        ..Default::default()
    }
    .with_connection_init(|conn| {
        use diesel::connection::{CacheSize, Connection};
        conn.set_prepared_statement_cache_size(CacheSize::Disabled);
        Ok(())
    })
}

/// Makes every SQLite connection of this process small: a 16 KiB lookaside buffer instead
/// of 48 KiB, and no bulk page-cache allocation up front (pages are allocated as they are
/// read, up to each connection's `cache_size`). Process-wide settings only take before
/// SQLite initializes, so this runs before the first connection of either store opens;
/// if something opened SQLite earlier, the defaults stay and the connection still works.
pub fn shrink_sqlite_process_wide() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: sqlite3_config is called before any connection exists in this process
        // (both stores call this before opening); when SQLite is already initialized it
        // refuses with SQLITE_MISUSE and changes nothing. The arguments match the C
        // signatures of SQLITE_CONFIG_LOOKASIDE (int, int) and SQLITE_CONFIG_PAGECACHE
        // (void*, int, int).
        let lookaside = unsafe {
            ffi::sqlite3_config(
                ffi::SQLITE_CONFIG_LOOKASIDE,
                512 as std::ffi::c_int,
                32 as std::ffi::c_int,
            )
        };
        let page_cache = unsafe {
            ffi::sqlite3_config(
                ffi::SQLITE_CONFIG_PAGECACHE,
                std::ptr::null_mut::<std::ffi::c_void>(),
                0 as std::ffi::c_int,
                0 as std::ffi::c_int,
            )
        };
        if lookaside != ffi::SQLITE_OK || page_cache != ffi::SQLITE_OK {
            tracing::debug!(
                lookaside,
                page_cache,
                "SQLite kept its default memory settings"
            );
        }
    });
}

/// The same lookaside limit on one connection, for when the process-wide setting came too
/// late (SQLite was initialized by someone else first).
pub(super) fn shrink_lookaside(conn: &Connection) {
    // SAFETY: the handle is a fresh, open connection with no statement prepared yet, which
    // is when SQLITE_DBCONFIG_LOOKASIDE may be changed; a NULL buffer lets SQLite allocate it.
    let rc = unsafe {
        ffi::sqlite3_db_config(
            conn.handle(),
            ffi::SQLITE_DBCONFIG_LOOKASIDE,
            std::ptr::null_mut::<std::ffi::c_void>(),
            512 as std::ffi::c_int,
            32 as std::ffi::c_int,
        )
    };
    if rc != ffi::SQLITE_OK {
        tracing::debug!(rc, "SQLite kept its default lookaside");
    }
}
