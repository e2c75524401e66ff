using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace KernelHarness.Runtime;

/// <summary>
/// The simulated hardware, for subsystem implementations (the reference ones and a student's): the
/// raw per-CPU state a real kernel reaches with arch code (<c>arch_local_irq_*</c>, the per-CPU
/// preempt count), raw memory (no KASAN: an allocator's own metadata), the memory map and zones,
/// and the interrupt controller. Driver code uses the <see cref="Kernel"/> facade instead.
/// </summary>
public static class Arch
{
    private static Machine M => Machine.Current;

    // ---- CPU ----

    /// <summary>The id of the CPU the caller runs on (<c>raw_smp_processor_id</c>: no preemption check).</summary>
    public static int raw_smp_processor_id() => M.CurrentSim.Cpu;

    /// <summary>Possible CPUs.</summary>
    public static int nr_cpu_ids => M.Cpus.Length;

    /// <summary>This CPU's preempt count word (Linux's per-CPU <c>__preempt_count</c>).</summary>
    public static ref int raw_preempt_count() => ref M.CurrentCpu.PreemptCount;

    /// <summary>True when this CPU's interrupt flag is clear.</summary>
    public static bool arch_irqs_disabled() => !M.CurrentCpu.IrqsEnabled;

    /// <summary>Clears the interrupt flag (<c>cli</c>).</summary>
    public static void arch_local_irq_disable() => M.CurrentCpu.IrqsEnabled = false;

    /// <summary>Sets the interrupt flag (<c>sti</c>): pending interrupts arrive at the next interleaving point.</summary>
    public static void arch_local_irq_enable() => M.CurrentCpu.IrqsEnabled = true;

    /// <summary>The flags word: <c>X86_EFLAGS_IF</c> set when interrupts are enabled.</summary>
    public static ulong arch_local_save_flags() => M.CurrentCpu.IrqsEnabled ? Kernel.X86_EFLAGS_IF : 0;

    /// <summary>Sets the interrupt flag from a flags word.</summary>
    public static void arch_local_irq_restore(ulong flags) => M.CurrentCpu.IrqsEnabled = (flags & Kernel.X86_EFLAGS_IF) != 0;

    /// <summary>True when the flags word has interrupts disabled.</summary>
    public static bool arch_irqs_disabled_flags(ulong flags) => (flags & Kernel.X86_EFLAGS_IF) == 0;

    /// <summary>Whether this CPU should reschedule at the next preemption point.</summary>
    public static bool need_resched() => M.CurrentCpu.NeedResched;

    /// <summary>The preemption point of <c>preempt_enable()</c> reaching zero: may switch to another task.</summary>
    public static void preempt_schedule()
    {
        var m = M;
        if (m.CurrentCpu.NeedResched)
            m.Schedule("preempt_schedule");
    }

    /// <summary>Reports "BUG: using smp_processor_id() in preemptible code" when preemption is enabled (CONFIG_DEBUG_PREEMPT).</summary>
    public static void check_preemption_disabled(string what) => M.CheckPreemptionDisabled(what);

    /// <summary>True when softirqs are pending on this CPU (<c>local_softirq_pending()</c>).</summary>
    public static bool local_softirq_pending() => M.CurrentCpu.SoftirqPending != 0;

    /// <summary>Runs pending softirqs now, unless in interrupt context (<c>do_softirq</c>).</summary>
    public static void do_softirq() => M.DoSoftirq();

    /// <summary>A CPU's copy of a per-CPU variable, with no preemption check.</summary>
    public static ref T raw_cpu_ptr<T>(percpu<T> v, int cpu) => ref v.values_on(M)[cpu];

    // ---- Memory ----

    /// <summary>Page frames in the machine.</summary>
    public static ulong max_pfn => M.Memory.TotalPages;

    /// <summary>The first pfn of a zone.</summary>
    public static ulong zone_start_pfn(zone_type zone) => M.Memory.ZoneStart[(int)zone];

    /// <summary>One past the last pfn of a zone (equal to the start when the zone is empty).</summary>
    public static ulong zone_end_pfn(zone_type zone) => M.Memory.ZoneEnd[(int)zone];

    /// <summary>The <c>struct page</c> of a frame (<c>mem_map[pfn]</c>).</summary>
    public static page mem_map(ulong pfn)
    {
        var mem = M.Memory;
        mem.ArchOps++;
        return mem.PfnToPage(pfn);
    }

    /// <summary>Raw bytes at a kernel virtual address, unchecked by KASAN (an allocator's own metadata).</summary>
    public static Span<byte> raw_span(kptr p, ulong len)
    {
        var mem = M.Memory;
        mem.ArchOps++;
        if (!mem.TryTranslate(p.addr, len, out var span))
            throw Fault(p.addr, len);
        return span;
    }

    /// <summary>A raw reference at a kernel virtual address, unchecked by KASAN.</summary>
    public static ref T raw_ref<T>(kptr p) where T : unmanaged
    {
        var span = raw_span(p, (ulong)Unsafe.SizeOf<T>());
        return ref MemoryMarshal.AsRef<T>(span);
    }

    /// <summary>
    /// What <c>ksize()</c> promises KASAN (<c>kasan_unpoison_range</c>): the whole bucket of the object at
    /// <paramref name="p"/>, <paramref name="bucket"/> bytes, may be used from now on.
    /// </summary>
    public static void kasan_ksize(kptr p, ulong bucket) => M.Checks.OnKsize(p, bucket);

    /// <summary>Maps <paramref name="pages"/> at a page-aligned vmalloc address (<c>vmap</c>); the data lives with the mapping.</summary>
    public static void vmap(ulong addr, page[] pages) => M.Memory.MapVmArea(addr, pages);

    /// <summary>Removes a vmalloc mapping; returns its pages, or null when nothing is mapped there.</summary>
    public static page[]? vunmap(ulong addr) => M.Memory.UnmapVmArea(addr);

    /// <summary>Simulates direct reclaim: the caller sleeps for a tick while memory is "reclaimed".</summary>
    public static void reclaim_sleep()
    {
        var m = M;
        m.MightSleep(m.LastFunction);
        m.CurrentTask.__state = Kernel.TASK_UNINTERRUPTIBLE;
        m.ScheduleTimeout(1, "direct reclaim");
    }

    // ---- Interrupt controller ----

    /// <summary>Interrupt lines of the controller (<c>nr_irqs</c>).</summary>
    public static int nr_irqs => M.Interrupts.NrIrqs;

    /// <summary>Masks a line at the controller: raised interrupts stay pending.</summary>
    public static void irq_chip_mask(uint irq) => M.Interrupts.Mask(irq);

    /// <summary>Unmasks a line: a pending interrupt is delivered at the next interleaving point.</summary>
    public static void irq_chip_unmask(uint irq) => M.Interrupts.Unmask(irq);

    /// <summary>Raises the line again (<c>check_irq_resend</c>: replays an interrupt that arrived while disabled).</summary>
    public static void irq_retrigger(uint irq) => M.Interrupts.Raise(irq);

    /// <summary>True while the line is masked at the controller.</summary>
    public static bool irq_chip_masked(uint irq) => M.Interrupts.IsMasked(irq);

    private static KernelOopsException Fault(ulong addr, ulong len)
    {
        var m = M;
        var title = addr < Kernel.PAGE_SIZE
            ? $"BUG: kernel NULL pointer dereference, address: {addr:x16}"
            : $"BUG: unable to handle page fault for address: {addr:x16}";
        m.Report(ReportKind.Oops, title, new[] { $"#PF: access of {len} bytes: no mapping there (or the range crosses the end of a mapping)" });
        return new KernelOopsException(title);
    }

    internal static KernelOopsException PageFault(ulong addr, ulong len) => Fault(addr, len);
}
