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
//     KERNEL PANIC at tests/undefined_behaviour.cpp:110: undefined behaviour
//     at tests/undefined_behaviour.cpp:110:39: signed integer overflow:
//     2147483647 + 1 in type 'int'
//
// The build passes -fno-sanitize-recover=all, so the compiler calls the
// _abort variants, which must not return. Every handler that
// -fsanitize=undefined can call with clang 14 and GCC 12 is here, so that
// any code a student writes links under UBSAN=1; a test kernel,
// tests/undefined_behaviour.cpp in chapters 04-06, triggers each of them.
// Two only clang calls: GCC checks neither an alignment assumption nor,
// under -fsanitize=undefined, a conversion from floating point. The checks
// that need RTTI (vptr, and clang's function) are not in the group here
// (toolchain.mk).

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

// The checks whose record is the place alone.
struct LocationData {
    SourceLocation location;
};

struct ShiftOutOfBoundsData {
    SourceLocation location;
    const TypeDescriptor* left_type;
    const TypeDescriptor* right_type;
};

struct VlaBoundData {
    SourceLocation location;
    const TypeDescriptor* type;
};

struct FloatCastOverflowData {
    SourceLocation location;
    const TypeDescriptor* from_type;
    const TypeDescriptor* to_type;
};

struct InvalidBuiltinData {
    SourceLocation location;
    uint8_t kind;  // 0: __builtin_ctz and kin, 1: __builtin_clz and kin
};

// A call passed null for a parameter declared nonnull: the call's place,
// the attribute's, and which parameter (counted from 1).
struct NonnullArgumentData {
    SourceLocation location;
    SourceLocation attribute_location;
    int32_t argument_index;
};

// A function declared returns_nonnull returned null. The place of the
// return comes as an argument of its own.
struct NonnullReturnData {
    SourceLocation attribute_location;
};

struct AlignmentAssumptionData {
    SourceLocation location;
    SourceLocation assumption_location;
    const TypeDescriptor* type;
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

// Where an attribute was declared, as " at FILE:LINE". GCC does not say:
// its record's place is empty, and the report names none rather than
// "(null):0".
void put_declaration(OutputSink& output, const SourceLocation& declaration) {
    if (declaration.file != nullptr) {
        format_to(output, " at {}:{}", declaration.file, declaration.line);
    }
}

// The usual report of arithmetic on two operands: `left op right in type T`.
[[noreturn]] void report_arithmetic(const OverflowData& data, const char* kind, ValueHandle left,
                                    const char* operation, ValueHandle right) {
    OutputSink& output = begin_report(data.location, kind);
    format_to(output, ": ");
    put_integer(output, *data.type, left);
    format_to(output, " {} ", operation);
    put_integer(output, *data.type, right);
    format_to(output, " in type {}", data.type->name());
    finish_panic();
}

}  // namespace

extern "C" {

// a + b, a - b, a * b and -a do not fit in their signed type.
[[noreturn]] void __ubsan_handle_add_overflow_abort(const OverflowData* data, ValueHandle left,
                                                    ValueHandle right) {
    report_arithmetic(*data, "signed integer overflow", left, "+", right);
}

[[noreturn]] void __ubsan_handle_sub_overflow_abort(const OverflowData* data, ValueHandle left,
                                                    ValueHandle right) {
    report_arithmetic(*data, "signed integer overflow", left, "-", right);
}

[[noreturn]] void __ubsan_handle_mul_overflow_abort(const OverflowData* data, ValueHandle left,
                                                    ValueHandle right) {
    report_arithmetic(*data, "signed integer overflow", left, "*", right);
}

[[noreturn]] void __ubsan_handle_negate_overflow_abort(const OverflowData* data,
                                                       ValueHandle operand) {
    OutputSink& output = begin_report(data->location, "signed integer overflow");
    format_to(output, ": -(");
    put_integer(output, *data->type, operand);
    format_to(output, ") in type {}", data->type->name());
    finish_panic();
}

// a / b or a % b with b zero, or the one signed quotient that does not fit:
// the most negative value divided by -1. The record does not say which of
// the two it was, so the report names the division that both do rather
// than show a % b as a / b.
[[noreturn]] void __ubsan_handle_divrem_overflow_abort(const OverflowData* data, ValueHandle left,
                                                       ValueHandle right) {
    OutputSink& output =
        begin_report(data->location, right == 0 ? "division by zero" : "signed integer overflow");
    format_to(output, ": division of ");
    put_integer(output, *data->type, left);
    format_to(output, " by ");
    put_integer(output, *data->type, right);
    format_to(output, " in type {}", data->type->name());
    finish_panic();
}

// a << b or a >> b with b negative or not below a's width, or a left shift
// of a signed value that is negative or loses bits.
[[noreturn]] void __ubsan_handle_shift_out_of_bounds_abort(const ShiftOutOfBoundsData* data,
                                                           ValueHandle left, ValueHandle right) {
    OutputSink& output = begin_report(data->location, "shift out of bounds");
    format_to(output, ": ");
    put_integer(output, *data->left_type, left);
    format_to(output, " shifted by ");
    put_integer(output, *data->right_type, right);
    format_to(output, " in type {}", data->left_type->name());
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
// type it points to, or to an object smaller than that type. For the last,
// GCC describes the object's type (an array's element), clang the access's.
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

// __builtin_assume_aligned(pointer, alignment, offset) with a pointer that
// is not offset bytes past a multiple of alignment (clang only).
[[noreturn]] void __ubsan_handle_alignment_assumption_abort(const AlignmentAssumptionData* data,
                                                            ValueHandle pointer,
                                                            ValueHandle alignment,
                                                            ValueHandle offset) {
    OutputSink& output = begin_report(data->location, "misaligned assumption");
    format_to(output, ": address {:x} (offset {}) assumed {}-byte aligned", pointer, offset,
              alignment);
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
[[noreturn]] void __ubsan_handle_pointer_overflow_abort(const LocationData* data, ValueHandle base,
                                                        ValueHandle result) {
    OutputSink& output = begin_report(data->location, "pointer overflow");
    format_to(output, ": address {:x} became {:x}", base, result);
    finish_panic();
}

// A variable length array (a GNU extension in C++) of zero or fewer
// elements.
[[noreturn]] void __ubsan_handle_vla_bound_not_positive_abort(const VlaBoundData* data,
                                                              ValueHandle bound) {
    OutputSink& output = begin_report(data->location, "non-positive array bound");
    format_to(output, ": ");
    put_integer(output, *data->type, bound);
    finish_panic();
}

// A floating-point value converted to an integer type it does not fit
// (clang only). Its value is not shown: this kernel has no floating point
// to show it with.
[[noreturn]] void __ubsan_handle_float_cast_overflow_abort(const FloatCastOverflowData* data,
                                                           ValueHandle) {
    OutputSink& output = begin_report(data->location, "float cast overflow");
    format_to(output, ": a value of type {} outside the range of type {}", data->from_type->name(),
              data->to_type->name());
    finish_panic();
}

// __builtin_ctz(0) or __builtin_clz(0), which have no answer.
[[noreturn]] void __ubsan_handle_invalid_builtin_abort(const InvalidBuiltinData* data) {
    OutputSink& output = begin_report(data->location, "invalid builtin argument");
    format_to(output, ": zero passed to {}", data->kind == 0 ? "ctz()" : "clz()");
    finish_panic();
}

[[noreturn]] void __ubsan_handle_nonnull_arg_abort(const NonnullArgumentData* data) {
    OutputSink& output = begin_report(data->location, "null argument");
    format_to(output, ": null passed as argument {}, declared nonnull", data->argument_index);
    put_declaration(output, data->attribute_location);
    finish_panic();
}

[[noreturn]] void __ubsan_handle_nonnull_return_v1_abort(const NonnullReturnData* data,
                                                         const SourceLocation* location) {
    OutputSink& output = begin_report(*location, "null return");
    format_to(output, ": null returned from a function declared returns_nonnull");
    put_declaration(output, data->attribute_location);
    finish_panic();
}

// The two checks below have no _abort variant: they never return whatever
// the build's flags.

// __builtin_unreachable() was reached.
[[noreturn]] void __ubsan_handle_builtin_unreachable(const LocationData* data) {
    begin_report(data->location, "unreachable code reached");
    finish_panic();
}

// A function that returns a value ran off its end without a return.
[[noreturn]] void __ubsan_handle_missing_return(const LocationData* data) {
    begin_report(data->location, "missing return");
    finish_panic();
}

}  // extern "C"
