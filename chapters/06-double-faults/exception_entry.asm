; The first instructions of every exception: one small entry stub per
; vector, and the common code that saves the interrupted state, calls the
; C++ dispatcher and returns with iretq.
;
; Why assembly? An exception can strike between any two instructions, so
; its handler must give back every register exactly as it found it, and it
; must end with iretq rather than ret. C++ functions follow the System V
; calling convention instead: they may clobber the scratch registers (rax,
; rcx, rdx, rsi, rdi, r8-r11) and they return with ret. GCC and Clang offer
; __attribute__((interrupt)) to bridge the two, but such a function sees
; only the frame the CPU pushed (RIP, CS, RFLAGS, RSP, SS): the general
; registers at the time of the fault are saved where C++ cannot name them,
; so it could print no register dump, and it could not change them either.
; These stubs save all of them in a struct the C++ code can read and write
; (ExceptionFrame in exception_frame.h) and pass its address, never a copy,
; to the dispatcher.

extern dispatch_exception

; The CPU pushes an error code for some exceptions only (SDM vol. 3, table
; 6-1; AMD adds #VC and #SX). The stubs make every frame look the same, so
; that the common code and ExceptionFrame need not know which is which.

; An exception without an error code: push 0 in its place.
%macro ENTRY_WITHOUT_ERROR_CODE 1
exception_entry_%1:
    push 0
    push %1
    jmp exception_entry_common
%endmacro

; An exception with an error code, which the CPU has already pushed. But
; only when the CPU itself raises the exception: `int N` and a hardware
; interrupt on the same vector push none (SDM 6.13). The stack tells which:
; the CPU aligns RSP to 16 bytes and then pushes five quadwords (40 bytes),
; or six with an error code (48). So RSP is an odd multiple of 8 exactly
; when the error code is missing.
%macro ENTRY_WITH_ERROR_CODE 1
exception_entry_%1:
    test rsp, 8
    jz .has_error_code
    push 0
.has_error_code:
    push %1
    jmp exception_entry_common
%endmacro

section .text
bits 64

ENTRY_WITHOUT_ERROR_CODE 0      ; #DE divide error
ENTRY_WITHOUT_ERROR_CODE 1      ; #DB debug
ENTRY_WITHOUT_ERROR_CODE 2      ; NMI
ENTRY_WITHOUT_ERROR_CODE 3      ; #BP breakpoint
ENTRY_WITHOUT_ERROR_CODE 4      ; #OF overflow
ENTRY_WITHOUT_ERROR_CODE 5      ; #BR bound range exceeded
ENTRY_WITHOUT_ERROR_CODE 6      ; #UD invalid opcode
ENTRY_WITHOUT_ERROR_CODE 7      ; #NM device not available
ENTRY_WITH_ERROR_CODE    8      ; #DF double fault (always 0)
ENTRY_WITHOUT_ERROR_CODE 9      ; coprocessor segment overrun (reserved)
ENTRY_WITH_ERROR_CODE    10     ; #TS invalid TSS
ENTRY_WITH_ERROR_CODE    11     ; #NP segment not present
ENTRY_WITH_ERROR_CODE    12     ; #SS stack-segment fault
ENTRY_WITH_ERROR_CODE    13     ; #GP general protection
ENTRY_WITH_ERROR_CODE    14     ; #PF page fault
ENTRY_WITHOUT_ERROR_CODE 15     ; reserved
ENTRY_WITHOUT_ERROR_CODE 16     ; #MF x87 floating-point error
ENTRY_WITH_ERROR_CODE    17     ; #AC alignment check (always 0)
ENTRY_WITHOUT_ERROR_CODE 18     ; #MC machine check
ENTRY_WITHOUT_ERROR_CODE 19     ; #XM SIMD floating-point exception
ENTRY_WITHOUT_ERROR_CODE 20     ; #VE virtualization exception
ENTRY_WITH_ERROR_CODE    21     ; #CP control protection
ENTRY_WITHOUT_ERROR_CODE 22     ; reserved
ENTRY_WITHOUT_ERROR_CODE 23     ; reserved
ENTRY_WITHOUT_ERROR_CODE 24     ; reserved
ENTRY_WITHOUT_ERROR_CODE 25     ; reserved
ENTRY_WITHOUT_ERROR_CODE 26     ; reserved
ENTRY_WITHOUT_ERROR_CODE 27     ; reserved
ENTRY_WITHOUT_ERROR_CODE 28     ; #HV hypervisor injection (AMD)
ENTRY_WITH_ERROR_CODE    29     ; #VC VMM communication (AMD)
ENTRY_WITH_ERROR_CODE    30     ; #SX security exception (AMD)
ENTRY_WITHOUT_ERROR_CODE 31     ; reserved

; Every stub ends here with the vector and an error code on the stack,
; above them the frame the CPU pushed.
exception_entry_common:
    ; The order matches ExceptionFrame, read from its last general register
    ; to its first.
    push rax
    push rbx
    push rcx
    push rdx
    push rsi
    push rdi
    push rbp
    push r8
    push r9
    push r10
    push r11
    push r12
    push r13
    push r14
    push r15

    ; The System V ABI lets C++ code assume the direction flag is clear
    ; (string instructions count upwards); the interrupted code may have
    ; set it. iretq restores the interrupted RFLAGS, flag included.
    cld

    ; The stack is 16-byte aligned here, as the ABI demands at a call: the
    ; CPU aligned it before pushing its frame, and everything pushed since
    ; is 22 quadwords (static_assert in exception_frame.h).
    mov rdi, rsp                        ; ExceptionFrame* (first argument)
    call dispatch_exception

    ; The handler may have changed the frame (a test moves RIP to a
    ; recovery point): restore what is there now, not what was saved.
    pop r15
    pop r14
    pop r13
    pop r12
    pop r11
    pop r10
    pop r9
    pop r8
    pop rbp
    pop rdi
    pop rsi
    pop rdx
    pop rcx
    pop rbx
    pop rax
    add rsp, 16                         ; the vector and the error code
    iretq

; The addresses of the 32 stubs, in vector order, for the IDT.
section .rodata
align 8
global exception_entry_points
exception_entry_points:
%assign vector 0
%rep 32
    dq exception_entry_ %+ vector
%assign vector vector + 1
%endrep
