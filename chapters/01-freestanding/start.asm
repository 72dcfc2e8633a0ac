; The first code of the kernel: what crt0, the C runtime's start-up object,
; does for a program on a hosted system. A freestanding program writes its
; own.
;
; A Multiboot 1 loader jumps to _start in 32-bit protected mode with paging
; off, interrupts off and no stack, and leaves the direction flag undefined.
; C++ cannot set up either for itself: compiled code assumes a stack, and
; the flag clear (the System V ABI promises it at every call).

MULTIBOOT_MAGIC equ 0x1badb002
MULTIBOOT_FLAGS equ 0                   ; we ask the loader for nothing

; The loader finds the kernel by this header; the linker script puts it at
; the start of the file.
section .multiboot_header
align 4
    dd MULTIBOOT_MAGIC
    dd MULTIBOOT_FLAGS
    dd -(MULTIBOOT_MAGIC + MULTIBOOT_FLAGS)     ; the three sum to zero

section .bss
align 16
stack_bottom:
    resb 16 * 1024
stack_top:

section .text
bits 32
global _start
extern run_global_constructors
extern kernel_main
extern halt_forever

_start:
    cld                         ; string instructions step upwards, as C++ assumes
    mov esp, stack_top          ; the stack grows down from its top
    call run_global_constructors
    call kernel_main
    call halt_forever           ; there is nothing to return to
