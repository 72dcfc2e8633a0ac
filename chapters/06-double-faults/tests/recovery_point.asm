; The assembly half of tests/expect_exception.cpp: a call that an exception
; handler can make return, as setjmp and longjmp do in C.

section .text
bits 64

; bool call_with_recovery_point(void (*body)(), RecoveryPoint* point)
;
; Calls body and returns false when it returns. Before that it writes into
; *point everything a return from this function restores: the registers
; the System V ABI makes a callee preserve (rbx, rbp, r12-r15), the stack
; pointer as it is after the return, and the return address. An exception
; handler that copies them into the exception frame, and sets RAX to 1,
; sends the interrupted body's iretq to this function's caller, which sees
; the call return true. The layout of RecoveryPoint is in
; expect_exception.cpp.
global call_with_recovery_point
call_with_recovery_point:
    mov [rsi + 0], rbx
    mov [rsi + 8], rbp
    mov [rsi + 16], r12
    mov [rsi + 24], r13
    mov [rsi + 32], r14
    mov [rsi + 40], r15
    lea rax, [rsp + 8]                  ; past the return address
    mov [rsi + 48], rax
    mov rax, [rsp]                      ; the return address
    mov [rsi + 56], rax

    ; At the entry RSP is 8 below a multiple of 16 (the caller's call
    ; pushed the return address); the ABI wants a multiple at a call.
    sub rsp, 8
    call rdi
    add rsp, 8
    xor eax, eax
    ret
