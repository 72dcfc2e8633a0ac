; From the loader to C++: the code that runs between GRUB and kernel_main.
;
; GRUB's multiboot2 command jumps to _start in 32-bit protected mode with
; paging off, interrupts off, EAX holding the Multiboot2 magic, EBX the
; physical address of the boot information, and no stack. To run 64-bit
; code the CPU must be in long mode, which needs paging, which needs page
; tables. This file checks that the machine can do it, builds the tables,
; switches, and calls the C++ code.

MULTIBOOT2_BOOTLOADER_MAGIC equ 0x36d76289

CPUID_EFLAGS_BIT         equ 1 << 21
CPUID_FEATURES           equ 1
CPUID_PAE_BIT            equ 1 << 6      ; in EDX of the features
CPUID_EXTENDED_BASE      equ 0x80000000
CPUID_EXTENDED_FEATURES  equ 0x80000001
CPUID_LONG_MODE_BIT      equ 1 << 29     ; in EDX of the extended features

PAGE_PRESENT             equ 1 << 0
PAGE_WRITABLE            equ 1 << 1
PAGE_HUGE                equ 1 << 7      ; a 2 MiB page in a page directory
HUGE_PAGE_SIZE           equ 2 * 1024 * 1024

CR0_PAGING               equ 1 << 31
CR0_WRITE_PROTECT        equ 1 << 16     ; read-only pages bind the kernel too
CR4_PAE                  equ 1 << 5
EFER_MSR                 equ 0xc0000080
EFER_LONG_MODE_ENABLE    equ 1 << 8

VGA_TEXT_BUFFER          equ 0xb8000
WHITE_ON_RED             equ 0x4f

COM1                     equ 0x3f8       ; write: the next byte to send
COM1_LINE_STATUS         equ COM1 + 5
TRANSMIT_HOLDING_EMPTY   equ 1 << 5      ; line status: it can take a byte
SERIAL_MAX_STATUS_READS  equ 100000      ; a tenth of a second on real hardware

section .bss
; Page tables must be 4 KiB aligned: the CPU keeps flags in the low 12 bits
; of every address it points to them with.
align 4096
pml4:           resb 4096
pdpt:           resb 4096
page_directory: resb 4096

align 16
stack_bottom:   resb 16 * 1024
stack_top:

multiboot_info_address: resd 1

section .rodata
; A 64-bit GDT: the null descriptor the CPU requires, then one code segment.
; Long mode ignores base and limit; what matters are the flags.
gdt64:
    dq 0
.code_segment: equ $ - gdt64
    ; executable (43), code/data type (44), present (47), 64-bit (53)
    dq (1 << 43) | (1 << 44) | (1 << 47) | (1 << 53)
.pointer:
    dw $ - gdt64 - 1                    ; limit: size in bytes minus one
    dq gdt64

no_multiboot_message: db "Boot error: not loaded by a Multiboot2 loader", 0
no_cpuid_message:     db "Boot error: this CPU has no CPUID instruction", 0
no_pae_message:       db "Boot error: this CPU has no PAE, which long mode needs", 0
no_long_mode_message: db "Boot error: this CPU has no 64-bit long mode", 0

section .text
bits 32
global _start
extern run_global_constructors
extern kernel_main
extern halt_forever

_start:
    ; Multiboot2 leaves the direction flag undefined. String instructions
    ; (boot_error's, and those the compiler emits for C++, which the System
    ; V ABI lets assume DF=0) must step upwards through memory.
    cld
    mov esp, stack_top
    mov [multiboot_info_address], ebx

    call check_multiboot
    call check_cpuid
    call check_pae
    call check_long_mode

    call set_up_page_tables
    call enable_long_mode

    ; Long mode is on, but the CPU still runs 32-bit code (compatibility
    ; mode) until CS holds a 64-bit code segment. A far jump loads it.
    lgdt [gdt64.pointer]
    jmp gdt64.code_segment:long_mode_start

check_multiboot:
    cmp eax, MULTIBOOT2_BOOTLOADER_MAGIC
    jne .fail
    ret
.fail:
    mov esi, no_multiboot_message
    jmp boot_error

; CPUID exists if software can flip the ID bit in EFLAGS.
check_cpuid:
    pushfd
    pop eax
    mov ecx, eax                        ; keep the original EFLAGS
    xor eax, CPUID_EFLAGS_BIT
    push eax
    popfd
    pushfd
    pop eax
.id_bit_read_back:                      ; tests play a CPU without CPUID here
    push ecx                            ; restore the original EFLAGS
    popfd
    cmp eax, ecx
    je .fail                            ; the bit did not stick
    ret
.fail:
    mov esi, no_cpuid_message
    jmp boot_error

; The 64-bit page table format is PAE's, extended: no PAE, no long mode.
check_pae:
    mov eax, CPUID_FEATURES
    cpuid
    test edx, CPUID_PAE_BIT
    jz .fail
    ret
.fail:
    mov esi, no_pae_message
    jmp boot_error

check_long_mode:
    ; Older CPUs lack the extended leaf that reports long mode.
    mov eax, CPUID_EXTENDED_BASE
    cpuid
.highest_extended_leaf:                 ; tests play an older CPU here
    cmp eax, CPUID_EXTENDED_FEATURES
    jb .fail
    mov eax, CPUID_EXTENDED_FEATURES
    cpuid
    test edx, CPUID_LONG_MODE_BIT
    jz .fail
    ret
.fail:
    mov esi, no_long_mode_message
    jmp boot_error

; Identity-maps the first 1 GiB (virtual address = physical address) with
; 2 MiB pages, so the code keeps running at the same addresses once paging
; is on: PML4[0] -> PDPT[0] -> a page directory of 512 huge pages.
set_up_page_tables:
    mov eax, pdpt
    or eax, PAGE_PRESENT | PAGE_WRITABLE
    mov [pml4], eax

    mov eax, page_directory
    or eax, PAGE_PRESENT | PAGE_WRITABLE
    mov [pdpt], eax

    mov ecx, 0                          ; page directory index
.map_huge_page:
    mov eax, HUGE_PAGE_SIZE
    mul ecx                             ; eax = ecx * 2 MiB
    or eax, PAGE_PRESENT | PAGE_WRITABLE | PAGE_HUGE
    mov [page_directory + ecx * 8], eax
    inc ecx
    cmp ecx, 512
    jne .map_huge_page
    ret

; The order is prescribed: PAE on, page tables loaded, long mode enabled in
; the EFER register, then paging on, which activates long mode.
enable_long_mode:
    mov eax, cr4
    or eax, CR4_PAE
    mov cr4, eax

    mov eax, pml4
    mov cr3, eax

    mov ecx, EFER_MSR
    rdmsr
    or eax, EFER_LONG_MODE_ENABLE
    wrmsr

    mov eax, cr0
    or eax, CR0_PAGING | CR0_WRITE_PROTECT
    mov cr0, eax
    ret

; Shows the zero-terminated message at ESI in the top left corner of the
; screen, sends it as a line to the serial port COM1, and halts. There is no
; way on from here, and halting (rather than faulting into a reboot) leaves
; the message readable. The serial copy reaches a test harness, and a
; screen that UEFI left in a graphics mode, where 0xb8000 shows nothing.
boot_error:
    mov ebx, esi                        ; the message again, for the serial port
    mov edi, VGA_TEXT_BUFFER
    mov ah, WHITE_ON_RED
.next_character:
    lodsb
    test al, al
    jz .to_serial
    stosw                               ; character in AL, colour in AH
    jmp .next_character
.to_serial:
    mov esi, ebx
.next_serial_character:
    lodsb
    test al, al
    jz .end_of_line
    call write_serial_byte
    jmp .next_serial_character
.end_of_line:
    mov al, 13                          ; carriage return, then line feed
    call write_serial_byte
    mov al, 10
    call write_serial_byte
.halt:
    cli
    hlt
    jmp .halt

; Sends the byte in AL to COM1 once the UART can take it. The firmware has
; set the port up, if there is one. The wait is bounded (chapter 2's
; early_serial.cpp does the same in C++): on a missing or stuck UART the
; text is lost, but the message on the screen and the halt still come.
write_serial_byte:
    mov bl, al
    mov ecx, SERIAL_MAX_STATUS_READS
    mov dx, COM1_LINE_STATUS
.wait:
    in al, dx
    test al, TRANSMIT_HOLDING_EMPTY
    jnz .send
    loop .wait
    ret
.send:
    mov al, bl
    mov dx, COM1
    out dx, al
    ret

bits 64
long_mode_start:
    ; The data segment registers still hold GRUB's selectors, which mean
    ; nothing in our GDT. Long mode ignores them, but an interrupt return
    ; would check them, so load the null selector.
    xor eax, eax
    mov ss, ax
    mov ds, ax
    mov es, ax
    mov fs, ax
    mov gs, ax

    ; The upper halves of the registers are undefined after the switch:
    ; load the full 64-bit stack pointer.
    mov rsp, stack_top

    call run_global_constructors
    mov edi, [multiboot_info_address]  ; first argument (System V ABI)
    call kernel_main
    call halt_forever
