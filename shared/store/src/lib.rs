//! Content-addressed artifact store: objects on disk, records in sled, a process lock.
