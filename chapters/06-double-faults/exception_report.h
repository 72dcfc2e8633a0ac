#pragma once

// The report of an exception: what a person reads to see what went wrong,
// and what the test harness parses field by field. Every line after the
// first is a list of name=value fields:
//
//   EXCEPTION 14 #PF Page Fault
//     error_code=0x00000002
//       present=0 write=1 user=0 reserved_bit=0 instruction_fetch=0
//     cr2=0x00000000deadbeef
//     rip=0x0000000000102a4c <_ZN12_GLOBAL__N_110write_fromEm+0xc>
//     cs=0x0008 rflags=0x0000000000010006 rsp=0x000000000010cf88 ss=0x0000
//     rax=0x... rbx=0x... rcx=0x...    (all 15 general registers, 3 a line)

#include <stdint.h>

#include "exception_frame.h"
#include "output_sink.h"

// The full report. For a page fault it reads CR2, so call it before
// anything else can fault.
void write_exception_report(OutputSink& output, const ExceptionFrame& frame);

// One line, for an exception that is no error: a breakpoint.
void write_short_exception_report(OutputSink& output, const ExceptionFrame& frame);
