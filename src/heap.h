#pragma once
// The process's heap policy (glibc malloc), one place for it.
namespace stsd::heap {

// Sets the heap's policy; called once by main, before any thread starts.
//
// Freed blocks of up to 64 MiB stay in the heap for the next request instead of being
// mapped afresh. An import request builds buffers of tens of MiB (its write batch alone
// is ~28 MiB at 20,000 domains); glibc maps a block that large on every request (its
// adaptive threshold never takes a freed block back for a request of the same size) and
// every page of a fresh mapping is a page fault: importing 1M domains took 119,000 faults
// and 18.7 CPU-s, with this 55,000 and 16.5 (300,000 domains: 7.1 -> 4.8 CPU-s) on our
// virtual machines. The heap then keeps at most 64 MiB of freed memory on top of what it
// uses, until release_free_memory().
//
// No fast bins: glibc keeps small freed blocks unmerged in them and merges them all
// whenever a large block is freed; an import request frees a few hundred thousand small
// blocks, many of them allocated by a helper thread (src/parallel.h), between its large
// ones, and that merging took 5 % of its thread (1M domains: 11.0 -> 10.5 s; small
// blocks still go through the per-thread cache first).
void configure();

// Gives the heap's free pages back to the system now (after a large load).
void release_free_memory();

}  // namespace stsd::heap
