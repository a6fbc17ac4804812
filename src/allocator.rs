//! The allocator of the static musl builds (every binary we ship).
//!
//! musl's own malloc (mallocng) rounds small allocations up to coarse size
//! classes: 948 bytes of RSS per idle connection against 704 with glibc
//! (README.md ## Performance; `edgemq-bench conns`). dlmalloc packs them
//! like glibc does, but never returns a freed block from the middle of its
//! heap, so the old table left behind each time a big map doubles stays
//! resident (148 bytes per subscription against 99). So, as glibc does:
//! blocks of `MMAP_THRESHOLD` and more get their own mapping, unmapped when
//! freed and grown with `mremap`; everything smaller comes from dlmalloc.
//!
//! dlmalloc gets its memory from [`Pages`], and neither it nor the big
//! blocks ever call `mremap`: qemu-user (7.2, how the MIPS builds are
//! tested) loses track of mappings that `mremap` shrinks or moves when
//! threads allocate at the same time, and the heap then faults on its own
//! segment list (a crash at exit, 5 in 75 loaded runs of one test file). On a
//! real kernel `mremap` would be correct; what it saved is a copy when a
//! block of 128 KiB or more grows, which happens a handful of times per
//! run (a sled buffer, a table that doubles).
//!
//! The only module allowed `unsafe` (a global allocator cannot be written
//! without it); each block says why it is sound.

#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout};
use std::ptr;
use std::sync::{Mutex, MutexGuard};

use dlmalloc::Dlmalloc;

/// Blocks this big or bigger are mapped on their own (glibc's default).
const MMAP_THRESHOLD: usize = 128 * 1024;

/// The smallest page size of our targets; mappings are page-aligned, so
/// alignments up to this are honoured by a mapping.
const PAGE: usize = 4096;

pub struct EdgeAllocator;

/// The small-block heap; one lock, as dlmalloc's own global allocator has.
static HEAP: Mutex<Dlmalloc<Pages>> = Mutex::new(Dlmalloc::new_with_allocator(Pages));

fn heap() -> MutexGuard<'static, Dlmalloc<Pages>> {
    // Poisoned only by a panic inside dlmalloc, which aborts anyway.
    HEAP.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl EdgeAllocator {
    fn mapped(layout: &Layout) -> bool {
        layout.size() >= MMAP_THRESHOLD && layout.align() <= PAGE
    }
}

/// dlmalloc's segments: anonymous mappings, released with `munmap` only.
struct Pages;

// SAFETY: every answer describes a mapping made here or the failure to
// make one, as the trait asks; nothing is shared between calls.
unsafe impl dlmalloc::Allocator for Pages {
    fn alloc(&self, size: usize) -> (*mut u8, usize, u32) {
        let block = map(size);
        if block.is_null() {
            (ptr::null_mut(), 0, 0)
        } else {
            (block, size, 0)
        }
    }

    fn remap(&self, _block: *mut u8, _old: usize, _new: usize, _can_move: bool) -> *mut u8 {
        // No mremap (above): dlmalloc falls back to a new segment.
        ptr::null_mut()
    }

    fn free_part(&self, block: *mut u8, old_size: usize, new_size: usize) -> bool {
        // SAFETY: dlmalloc hands back the tail of a segment `alloc` mapped.
        unsafe { libc::munmap(block.add(new_size).cast(), old_size - new_size) == 0 }
    }

    fn free(&self, block: *mut u8, size: usize) -> bool {
        // SAFETY: a whole segment `alloc` mapped, no longer used.
        unsafe { libc::munmap(block.cast(), size) == 0 }
    }

    fn can_release_part(&self, _flags: u32) -> bool {
        true
    }

    fn allocates_zeros(&self) -> bool {
        true
    }

    fn page_size(&self) -> usize {
        PAGE
    }
}

// SAFETY: every block comes from exactly one of dlmalloc or mmap, chosen by
// its layout, and goes back to the same one: `Layout` is the same at
// allocation and deallocation (GlobalAlloc's contract), and `realloc`
// moves a block across the threshold by allocate-copy-free.
unsafe impl GlobalAlloc for EdgeAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if Self::mapped(&layout) {
            return map(layout.size());
        }
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { heap().malloc(layout.size(), layout.align()) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if Self::mapped(&layout) {
            // Fresh anonymous pages are zero.
            return map(layout.size());
        }
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { heap().calloc(layout.size(), layout.align()) }
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        if Self::mapped(&layout) {
            // SAFETY: `block` is a mapping of this size made by `map`.
            unsafe { libc::munmap(block.cast(), layout.size()) };
            return;
        }
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { heap().free(block, layout.size(), layout.align()) }
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let Ok(new_layout) = Layout::from_size_align(new_size, layout.align()) else {
            return ptr::null_mut();
        };
        if !Self::mapped(&layout) && !Self::mapped(&new_layout) {
            // SAFETY: forwarded with the caller's guarantees.
            return unsafe { heap().realloc(block, layout.size(), layout.align(), new_size) };
        }
        // A big block, or one crossing the threshold: a new block, the
        // bytes, the old one freed (no mremap, above).
        // SAFETY: `new_layout` is valid and non-zero (it is at least as
        // large as one side of the threshold).
        let new_block = unsafe { self.alloc(new_layout) };
        if !new_block.is_null() {
            // SAFETY: both blocks hold at least the smaller size.
            unsafe {
                ptr::copy_nonoverlapping(block, new_block, layout.size().min(new_size));
                self.dealloc(block, layout);
            }
        }
        new_block
    }
}

fn map(size: usize) -> *mut u8 {
    // SAFETY: an anonymous private mapping touches no existing memory.
    let block = unsafe {
        libc::mmap(
            ptr::null_mut(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if block == libc::MAP_FAILED {
        ptr::null_mut()
    } else {
        block.cast()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_on_both_sides_of_the_threshold_keep_their_bytes() {
        let allocator = EdgeAllocator;
        let sizes = [
            64,
            MMAP_THRESHOLD - 1,
            MMAP_THRESHOLD,
            3 * MMAP_THRESHOLD,
            100,
        ];
        let mut layout = Layout::from_size_align(sizes[0], 8).unwrap_or(Layout::new::<u64>());
        // SAFETY: each block is used within its size and freed once.
        unsafe {
            let mut block = allocator.alloc_zeroed(layout);
            assert!(!block.is_null());
            assert_eq!(*block, 0);
            *block = 7;
            for &size in &sizes[1..] {
                block = allocator.realloc(block, layout, size);
                assert!(!block.is_null());
                assert_eq!(*block, 7, "kept across {} -> {size}", layout.size());
                layout = Layout::from_size_align(size, 8).unwrap_or(layout);
                *block.add(size - 1) = 9;
            }
            allocator.dealloc(block, layout);
        }
    }
}
