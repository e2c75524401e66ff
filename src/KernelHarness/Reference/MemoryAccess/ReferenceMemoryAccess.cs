using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using KernelHarness.Runtime;
using KernelHarness.Subsystems;

namespace KernelHarness.Reference.MemoryAccess;

/// <summary>
/// The kernel's memory accessors, each checked like KASAN (mm/kasan/generic.c kasan_check_range)
/// before it touches the simulated memory: a bad access is reported with the allocation and free
/// sites; an access where nothing is mapped is an Oops.
/// </summary>
public sealed class ReferenceMemoryAccess : IMemoryAccess
{
    private static Machine M => Machine.Current;

    private static Span<byte> Checked(kptr p, ulong len, bool write, string function)
    {
        var m = M;
        m.Checks.CheckAccess(p.addr, len, write, function);
        if (len == 0)
            return Span<byte>.Empty;
        if (!m.Memory.TryTranslate(p.addr, len, out var span))
            throw Arch.PageFault(p.addr, len);
        return span;
    }

    public Span<byte> ptr_span(kptr p, ulong len) => Checked(p, len, write: true, "ptr_span");

    public ref T ptr_ref<T>(kptr p) where T : unmanaged =>
        ref MemoryMarshal.AsRef<T>(Checked(p, (ulong)Unsafe.SizeOf<T>(), write: true, "ptr_ref"));

    public kptr memset(kptr s, int c, ulong n)
    {
        Checked(s, n, write: true, "memset").Fill((byte)c);
        return s;
    }

    public kptr memcpy(kptr dest, kptr src, ulong n)
    {
        var from = Checked(src, n, write: false, "memcpy");
        var to = Checked(dest, n, write: true, "memcpy");
        from.CopyTo(to);
        return dest;
    }

    public kptr memmove(kptr dest, kptr src, ulong n)
    {
        var from = Checked(src, n, write: false, "memmove");
        var to = Checked(dest, n, write: true, "memmove");
        from.CopyTo(to); // Span.CopyTo handles overlap like memmove
        return dest;
    }

    public int memcmp(kptr a, kptr b, ulong n)
    {
        var x = Checked(a, n, write: false, "memcmp");
        var y = Checked(b, n, write: false, "memcmp");
        return Math.Sign(x.SequenceCompareTo(y));
    }

    public kptr kmap(page page) => new(Kernel.PAGE_OFFSET + (page.pfn << Kernel.PAGE_SHIFT));

    public void kunmap(page page)
    {
    }

    public kptr kmap_atomic(page page)
    {
        M.CpuState.preempt_disable();
        return new(Kernel.PAGE_OFFSET + (page.pfn << Kernel.PAGE_SHIFT));
    }

    public void kunmap_atomic(kptr addr) => M.CpuState.preempt_enable();
}
