// The runtime of the undefined behaviour sanitizer, for a kernel built with
// UBSAN=1 (common/toolchain.mk). -fsanitize=undefined makes the compiler
// check, where the source does something C++ leaves undefined (a signed
// overflow, an index past an array's end, a misaligned access...), that it
// does not happen, and call one of the functions below when it does. A
// hosted program gets them from compiler-rt or libsanitizer; a kernel has
// to bring its own.
//
// Each report is a panic (panic.h), whose heading and message both name the
// place the compiler found the behaviour at:
//
//     KERNEL PANIC at tests/undefined_behaviour.cpp:28: undefined behaviour
//     at tests/undefined_behaviour.cpp:28:39: signed integer overflow:
//     2147483647 + 1 in type 'int'
//
// The build passes -fno-sanitize-recover=all, so the compiler calls the
// _abort variants, which must not return; only the handlers clang and GCC
// call for this kernel are here.

#include <stdint.h>

#include "panic.h"

namespace {

// The records the compiler passes, laid out as clang and GCC both lay them
// out (the interface of compiler-rt's ubsan_handlers.h, which GCC's
// libsanitizer shares).

struct SourceLocation {
    const char* file;
    uint32_t line;
    uint32_t column;
};

// A type, as the checks describe their operands: a kind, for an integer its
// width and signedness, and the type's name as the compiler spells it in a
// diagnostic ('int'), stored right after these two fields.
struct TypeDescriptor {
    uint16_t kind;
    uint16_t info;

    static constexpr uint16_t kInteger = 0;

    [[nodiscard]] const char* name() const {
        return reinterpret_cast<const char*>(this) + sizeof(TypeDescriptor);
    }
    [[nodiscard]] bool is_signed_integer() const { return kind == kInteger && (info & 1) != 0; }
    // info's upper bits are the base-2 logarithm of the width in bits.
    [[nodiscard]] uint32_t bit_width() const { return 1u << (info >> 1); }
};
static_assert(sizeof(TypeDescriptor) == 4);

// An operand's value, in a register-sized handle. The kernel has no integer
// wider than 64 bits, which the compiler would pass by address instead.
using ValueHandle = uintptr_t;

struct OverflowData {
    SourceLocation location;
    const TypeDescriptor* type;
};

struct OutOfBoundsData {
    SourceLocation location;
    const TypeDescriptor* array_type;
    const TypeDescriptor* index_type;
};

struct TypeMismatchData {
    SourceLocation location;
    const TypeDescriptor* type;
    uint8_t log_alignment;
    uint8_t check_kind;  // an index into kAccessKinds
};

struct InvalidValueData {
    SourceLocation location;
    const TypeDescriptor* type;
};

struct PointerOverflowData {
    SourceLocation location;
};

struct UnreachableData {
    SourceLocation location;
};

// What a pointer was used for, by TypeMismatchData::check_kind.
constexpr const char* kAccessKinds[] = {
    "load of",
    "store to",
    "reference binding to",
    "member access within",
    "member call on",
    "constructor call on",
    "downcast of",
    "downcast of",
    "upcast of",
    "cast to virtual base of",
    "_Nonnull binding to",
    "dynamic operation on",
};

const char* access_kind(uint8_t check_kind) {
    return check_kind < sizeof(kAccessKinds) / sizeof(kAccessKinds[0]) ? kAccessKinds[check_kind]
                                                                       : "access to";
}

// Starts the panic and its message: where, and what kind of undefined
// behaviour. The handler adds the details and ends it with finish_panic().
OutputSink& begin_report(const SourceLocation& where, const char* kind) {
    OutputSink& output = begin_panic(where.file, where.line);
    format_to(output, "undefined behaviour at {}:{}:{}: {}", where.file, where.line, where.column,
              kind);
    return output;
}

// An integer operand as the number it is: the handle holds its bits, zero
// extended, so a negative number gets its sign back from the top bit of
// its width.
void put_integer(OutputSink& output, const TypeDescriptor& type, ValueHandle value) {
    if (type.is_signed_integer()) {
        const uint32_t unused_bits = 64 - type.bit_width();
        format_to(output, "{}",
                  static_cast<int64_t>(uint64_t{value} << unused_bits) >> unused_bits);
    } else {
        format_to(output, "{}", uint64_t{value});
    }
}

}  // namespace

extern "C" {

// a + b does not fit in its signed type.
[[noreturn]] void __ubsan_handle_add_overflow_abort(const OverflowData* data, ValueHandle left,
                                                    ValueHandle right) {
    OutputSink& output = begin_report(data->location, "signed integer overflow");
    format_to(output, ": ");
    put_integer(output, *data->type, left);
    format_to(output, " + ");
    put_integer(output, *data->type, right);
    format_to(output, " in type {}", data->type->name());
    finish_panic();
}

// array[index] with an index outside an array of known size.
[[noreturn]] void __ubsan_handle_out_of_bounds_abort(const OutOfBoundsData* data,
                                                     ValueHandle index) {
    OutputSink& output = begin_report(data->location, "index out of bounds");
    format_to(output, ": index ");
    put_integer(output, *data->index_type, index);
    format_to(output, " of type {}", data->array_type->name());
    finish_panic();
}

// A pointer used for an access it cannot serve: null, not aligned for the
// type it points to, or to an object smaller than that type.
[[noreturn]] void __ubsan_handle_type_mismatch_v1_abort(const TypeMismatchData* data,
                                                        ValueHandle pointer) {
    const uintptr_t alignment = uintptr_t{1} << data->log_alignment;
    const char* access = access_kind(data->check_kind);
    const char* type = data->type->name();
    if (pointer == 0) {
        OutputSink& output = begin_report(data->location, "null pointer");
        format_to(output, ": {} a null pointer of type {}", access, type);
    } else if ((pointer & (alignment - 1)) != 0) {
        OutputSink& output = begin_report(data->location, "misaligned access");
        format_to(output, ": {} address {:x}, which is not {}-byte aligned as type {} needs",
                  access, pointer, alignment, type);
    } else {
        OutputSink& output = begin_report(data->location, "object too small");
        format_to(output, ": {} address {:x}, which has no room for type {}", access, pointer,
                  type);
    }
    finish_panic();
}

// A bool that is neither 0 nor 1, or an enum's value outside its range.
[[noreturn]] void __ubsan_handle_load_invalid_value_abort(const InvalidValueData* data,
                                                          ValueHandle value) {
    OutputSink& output = begin_report(data->location, "invalid value");
    format_to(output, ": load of ");
    put_integer(output, *data->type, value);
    format_to(output, ", which type {} cannot hold", data->type->name());
    finish_panic();
}

// Pointer arithmetic that wrapped around the address space, or that moved
// a null pointer or made one.
[[noreturn]] void __ubsan_handle_pointer_overflow_abort(const PointerOverflowData* data,
                                                        ValueHandle base, ValueHandle result) {
    OutputSink& output = begin_report(data->location, "pointer overflow");
    format_to(output, ": address {:x} became {:x}", base, result);
    finish_panic();
}

// __builtin_unreachable() was reached. There is no _abort variant: this
// handler never returns whatever the build's flags.
[[noreturn]] void __ubsan_handle_builtin_unreachable(const UnreachableData* data) {
    begin_report(data->location, "unreachable code reached");
    finish_panic();
}

}  // extern "C"
