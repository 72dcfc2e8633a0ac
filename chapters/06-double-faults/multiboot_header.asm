; The Multiboot2 header: how GRUB recognises the file as a kernel it can
; load. It must lie 8-byte aligned within the first 32 KiB of the file; the
; linker script puts its section first.

MULTIBOOT2_MAGIC  equ 0xe85250d6
ARCH_I386         equ 0             ; start in 32-bit protected mode

section .multiboot_header
align 8
header_start:
    dd MULTIBOOT2_MAGIC
    dd ARCH_I386
    dd header_end - header_start
    ; The four fields must sum to zero modulo 2^32.
    dd 0x100000000 - (MULTIBOOT2_MAGIC + ARCH_I386 + (header_end - header_start))

    ; Tags would ask the loader for more (a framebuffer, modules, ...). We
    ; ask for nothing, so the list holds only the end tag: type 0, size 8.
    dw 0
    dw 0
    dd 8
header_end:
