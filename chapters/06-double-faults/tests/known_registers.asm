; The assembly half of tests/cpu_state_tests.cpp: code that C++ cannot
; write, because it must own every register.
;
; Each *_with_known_registers routine gives every general register a value
; of its own and sets two flags (CF and DF), raises one exception, and, once
; the handler has resumed it at the routine's *_resume label, writes down
; what the registers and flags hold then, into register_snapshot. An entry
; stub that loses or swaps a register, or an iretq that does not restore
; RFLAGS, shows there as a value that differs from the one loaded.

; A page the identity map of boot.asm does not cover (it ends at 1 GiB).
UNMAPPED_ADDRESS equ 0x4000_0000
; Bits 63-47 differ: no 64-bit address may look like this (SDM vol. 1,
; 3.3.7.1), and an access to it raises #GP.
NON_CANONICAL_ADDRESS equ 0x8000_0000_0000_0000

section .rodata
align 8
; The values loaded, in the order of RegisterSnapshot::general. Each byte
; differs from its neighbours, so that a register restored into the wrong
; place, or only in part, cannot look right.
global known_register_values
known_register_values:
    dq 0x0011_2233_4455_6601              ; rax
    dq 0x1021_3243_5465_7602              ; rbx
    dq 0x2031_4253_6475_8603              ; rcx
    dq 0x3041_5263_7485_9604              ; rdx
    dq 0x4051_6273_8495_a605              ; rsi
    dq 0x5061_7283_94a5_b606              ; rdi
    dq 0x6071_8293_a4b5_c607              ; rbp
    dq 0x7081_92a3_b4c5_d608              ; r8
    dq 0x8091_a2b3_c4d5_e609              ; r9
    dq 0x90a1_b2c3_d4e5_f60a              ; r10
    dq 0xa0b1_c2d3_e4f5_060b              ; r11
    dq 0xb0c1_d2e3_f405_160c              ; r12
    dq 0xc0d1_e2f3_0415_260d              ; r13
    dq 0xd0e1_f203_1425_360e              ; r14
    dq 0xe0f1_0213_2435_460f              ; r15

section .bss
align 8
; struct RegisterSnapshot in tests/cpu_state_tests.cpp.
global register_snapshot
register_snapshot:
    resq 15                               ; general: rax ... r15 after
.rsp_before: resq 1
.rsp_after: resq 1
.rflags_before: resq 1
.rflags_after: resq 1

; Where the real double fault test's page fault happens, and with what
; stack pointer: what the double fault's frame must show.
global rsp_at_unmapped_write
rsp_at_unmapped_write: resq 1

; What enter_as_the_cpu_with_error_code pushes as the interrupted RSP and
; RFLAGS, for a handler that cannot trust the frame a stub hands it.
global entry_return
entry_return:
.rsp: resq 1
.rflags: resq 1

section .text
bits 64

%macro BEGIN_WITH_KNOWN_REGISTERS 1
global %1
global %1_resume
%1:
    ; The registers the caller expects back (System V ABI).
    push rbx
    push rbp
    push r12
    push r13
    push r14
    push r15
    mov [rel register_snapshot.rsp_before], rsp
    mov rax, [rel known_register_values + 0 * 8]
    mov rbx, [rel known_register_values + 1 * 8]
    mov rcx, [rel known_register_values + 2 * 8]
    mov rdx, [rel known_register_values + 3 * 8]
    mov rsi, [rel known_register_values + 4 * 8]
    mov rdi, [rel known_register_values + 5 * 8]
    mov rbp, [rel known_register_values + 6 * 8]
    mov r8, [rel known_register_values + 7 * 8]
    mov r9, [rel known_register_values + 8 * 8]
    mov r10, [rel known_register_values + 9 * 8]
    mov r11, [rel known_register_values + 10 * 8]
    mov r12, [rel known_register_values + 11 * 8]
    mov r13, [rel known_register_values + 12 * 8]
    mov r14, [rel known_register_values + 13 * 8]
    mov r15, [rel known_register_values + 14 * 8]
    ; Flags a handler's own code changes: the stub's cld clears DF, and
    ; almost any arithmetic changes CF. iretq must bring both back.
    stc
    std
    pushfq
    pop qword [rel register_snapshot.rflags_before]
%endmacro

%macro END_WITH_KNOWN_REGISTERS 1
%1_resume:
    pushfq
    pop qword [rel register_snapshot.rflags_after]
    cld                                   ; the ABI's direction, for the caller
    mov [rel register_snapshot.rsp_after], rsp
    mov [rel register_snapshot + 0 * 8], rax
    mov [rel register_snapshot + 1 * 8], rbx
    mov [rel register_snapshot + 2 * 8], rcx
    mov [rel register_snapshot + 3 * 8], rdx
    mov [rel register_snapshot + 4 * 8], rsi
    mov [rel register_snapshot + 5 * 8], rdi
    mov [rel register_snapshot + 6 * 8], rbp
    mov [rel register_snapshot + 7 * 8], r8
    mov [rel register_snapshot + 8 * 8], r9
    mov [rel register_snapshot + 9 * 8], r10
    mov [rel register_snapshot + 10 * 8], r11
    mov [rel register_snapshot + 11 * 8], r12
    mov [rel register_snapshot + 12 * 8], r13
    mov [rel register_snapshot + 13 * 8], r14
    mov [rel register_snapshot + 14 * 8], r15
    ; From the stack pointer saved at the start, so that a handler that
    ; lost RSP fails the test instead of crashing it.
    mov rsp, [rel register_snapshot.rsp_before]
    pop r15
    pop r14
    pop r13
    pop r12
    pop rbp
    pop rbx
    ret
%endmacro

; A trap: the CPU resumes after int3 by itself, with no help from a test.
BEGIN_WITH_KNOWN_REGISTERS int3_with_known_registers
    int3
END_WITH_KNOWN_REGISTERS int3_with_known_registers

; Faults: the CPU would run the faulting instruction again, so the test's
; handler resumes at the _resume label instead.
BEGIN_WITH_KNOWN_REGISTERS invalid_opcode_with_known_registers
    ud2
END_WITH_KNOWN_REGISTERS invalid_opcode_with_known_registers

BEGIN_WITH_KNOWN_REGISTERS page_fault_with_known_registers
    mov byte [abs UNMAPPED_ADDRESS], 0    ; a store: no register changes
END_WITH_KNOWN_REGISTERS page_fault_with_known_registers

BEGIN_WITH_KNOWN_REGISTERS general_protection_with_known_registers
    mov [abs qword NON_CANONICAL_ADDRESS], al
END_WITH_KNOWN_REGISTERS general_protection_with_known_registers

; void write_unmapped_page()
;
; A write that page faults at a known instruction with a known stack
; pointer. With the page fault's gate taken away, delivering that page fault
; fails too, and the CPU raises a double fault instead.
global write_unmapped_page
global write_unmapped_page_access
write_unmapped_page:
    mov [rel rsp_at_unmapped_write], rsp
write_unmapped_page_access:
    mov byte [abs UNMAPPED_ADDRESS], 0
    ret

; void enter_as_the_cpu_with_error_code(uint64_t entry_stub, uint64_t error_code)
;
; Enters an exception's entry stub the way the CPU does for an exception
; that pushes an error code (SDM vol. 3, 6.12.1 and 6.14.2): RSP aligned
; down to 16 bytes, then SS, RSP, RFLAGS, CS and RIP pushed, then the error
; code. QEMU raises no #AC in the kernel, nor #CP, #VC or #SX at all, and
; `int N` pushes no error code, so only this shows whether those stubs
; expect one. The stub's iretq returns to the _return label.
global enter_as_the_cpu_with_error_code
global enter_as_the_cpu_with_error_code_return
enter_as_the_cpu_with_error_code:
    mov [rel entry_return.rsp], rsp
    pushfq
    pop qword [rel entry_return.rflags]
    and rsp, -16
    mov ecx, ss
    push rcx
    push qword [rel entry_return.rsp]
    push qword [rel entry_return.rflags]
    mov ecx, cs
    push rcx
    lea rcx, [rel enter_as_the_cpu_with_error_code_return]
    push rcx
    push rsi
    jmp rdi
enter_as_the_cpu_with_error_code_return:
    ret

; The 32 routines `int N; ret`, and their addresses in vector order: a
; software interrupt reaches every vector through its gate, without the
; fault that would otherwise raise it.
%assign vector 0
%rep 32
software_interrupt_ %+ vector:
    int vector
    ret
%assign vector vector + 1
%endrep

section .rodata
align 8
global software_interrupts
software_interrupts:
%assign vector 0
%rep 32
    dq software_interrupt_ %+ vector
%assign vector vector + 1
%endrep
