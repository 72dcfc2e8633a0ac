#pragma once

// The double fault (vector 8): the CPU raises it when a second exception
// arrives while it is delivering a first, and the two cannot be handled one
// after the other (SDM vol. 3, 6.15, table 6-5): a page fault while it
// delivers a page fault, say, or a general protection fault because the
// gate of the first exception is missing. Its error code is always 0, and
// it is an abort: the interrupted program cannot be resumed.
//
// In a kernel the usual cause is a stack overflow. The push that runs into
// the guard page raises a page fault; the CPU pushes the page fault's frame
// onto the same stack, faults again, and raises a double fault. Pushing the
// double fault's frame there would fault a third time, which resets the
// machine (a triple fault): so its handler gets a stack of its own.

#include <stdint.h>

#include "output_sink.h"

// Makes vector 8 switch to the double fault stack of the TSS, unmaps the
// guard page below that stack, and installs the handler, which prints a
// report and panics. Call it after initialize_exceptions and
// load_gdt_and_tss: the gate must exist, and the CPU reads the stack from
// the loaded TSS.
void initialize_double_fault_handler();

// The last line of a double fault's report: what CR2, the address of the
// latest page fault, says about the cause. The handler's own; declared
// here for its tests.
void write_double_fault_cause(OutputSink& output, uint64_t cr2);
