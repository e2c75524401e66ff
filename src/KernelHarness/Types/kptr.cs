using System;
using System.Globalization;

namespace KernelHarness;

/// <summary>
/// A kernel virtual address: Linux's <c>void *</c>. A readonly struct over a 64-bit simulated
/// address; <c>NULL</c> is its zero value and <c>ZERO_SIZE_PTR</c> (16) is <c>kmalloc(0)</c>'s answer.
/// Bytes behind it are reached through the checked accessors (<c>ptr_span</c>, <c>ptr_ref</c>, <c>memset</c>, …).
/// </summary>
public readonly struct kptr : IEquatable<kptr>, IComparable<kptr>
{
    /// <summary>The address.</summary>
    public readonly ulong addr;

    public kptr(ulong addr) => this.addr = addr;

    public static bool operator ==(kptr a, kptr b) => a.addr == b.addr;
    public static bool operator !=(kptr a, kptr b) => a.addr != b.addr;
    public static bool operator <(kptr a, kptr b) => a.addr < b.addr;
    public static bool operator >(kptr a, kptr b) => a.addr > b.addr;
    public static bool operator <=(kptr a, kptr b) => a.addr <= b.addr;
    public static bool operator >=(kptr a, kptr b) => a.addr >= b.addr;

    /// <summary>Pointer arithmetic in bytes, as on <c>char *</c>.</summary>
    public static kptr operator +(kptr p, ulong offset) => new(p.addr + offset);
    public static kptr operator +(kptr p, long offset) => new((ulong)((long)p.addr + offset));
    public static kptr operator +(kptr p, int offset) => new((ulong)((long)p.addr + offset));
    public static kptr operator -(kptr p, ulong offset) => new(p.addr - offset);
    public static kptr operator -(kptr p, int offset) => new((ulong)((long)p.addr - offset));

    /// <summary>The distance in bytes between two pointers.</summary>
    public static long operator -(kptr a, kptr b) => (long)(a.addr - b.addr);

    /// <summary>Casts, as C's <c>(unsigned long)p</c> and <c>(void *)addr</c>.</summary>
    public static explicit operator ulong(kptr p) => p.addr;
    public static explicit operator kptr(ulong addr) => new(addr);

    public bool Equals(kptr other) => addr == other.addr;
    public override bool Equals(object? obj) => obj is kptr other && Equals(other);
    public override int GetHashCode() => addr.GetHashCode();
    public int CompareTo(kptr other) => addr.CompareTo(other.addr);

    /// <summary>Formats as Linux's <c>%px</c>: <c>0xffff888000001000</c>; NULL as <c>(null)</c>.</summary>
    public override string ToString() =>
        addr == 0 ? "(null)" : "0x" + addr.ToString("x16", CultureInfo.InvariantCulture);
}
