using System;
using System.Numerics;
using KernelHarness;
using KernelHarness.Subsystems;

namespace StudentKernel;

/// <summary>
/// Your implementation of the <c>cpu state</c> subsystem (<see cref="ICpuState"/>). Every member below is a stub
/// that fails with a message naming the function: replace each body with your implementation.
/// The public conformance tests run it on a fresh simulated machine: <c>dotnet test</c>.
/// Keep the public parameterless constructor, and do not call the kernel API from it.
/// </summary>
public sealed class StudentCpuState : ICpuState
{
    /// <summary>Disables interrupts on this CPU (does not nest).</summary>
    public void local_irq_disable()
    {
        throw Todo("local_irq_disable", "include/linux/irqflags.h");
    }

    /// <summary>Enables interrupts on this CPU.</summary>
    public void local_irq_enable()
    {
        throw Todo("local_irq_enable", "include/linux/irqflags.h");
    }

    /// <summary>Saves the interrupt state in <paramref name="flags"/> and disables interrupts.</summary>
    public void local_irq_save(out ulong flags)
    {
        throw Todo("local_irq_save", "include/linux/irqflags.h");
    }

    /// <summary>Restores exactly the interrupt state saved in <paramref name="flags"/>.</summary>
    public void local_irq_restore(ulong flags)
    {
        throw Todo("local_irq_restore", "include/linux/irqflags.h");
    }

    /// <summary>True when interrupts are disabled on this CPU.</summary>
    public bool irqs_disabled()
    {
        throw Todo("irqs_disabled", "include/linux/irqflags.h");
    }

    /// <summary>Increments the preempt count: the task cannot be preempted or migrated.</summary>
    public void preempt_disable()
    {
        throw Todo("preempt_disable", "include/linux/preempt.h");
    }

    /// <summary>Decrements the preempt count; at zero, reschedules if needed.</summary>
    public void preempt_enable()
    {
        throw Todo("preempt_enable", "include/linux/preempt.h");
    }

    /// <summary>The preempt count: preempt bits 0-7, softirq 8-15, hardirq 16-19, NMI 20-23.</summary>
    public int preempt_count()
    {
        throw Todo("preempt_count", "include/asm-generic/preempt.h");
    }

    /// <summary>Adds <paramref name="val"/> to the preempt count.</summary>
    public void preempt_count_add(int val)
    {
        throw Todo("preempt_count_add", "include/linux/preempt.h");
    }

    /// <summary>Subtracts <paramref name="val"/> from the preempt count.</summary>
    public void preempt_count_sub(int val)
    {
        throw Todo("preempt_count_sub", "include/linux/preempt.h");
    }

    /// <summary>Disables preemption and returns this CPU's id.</summary>
    public int get_cpu()
    {
        throw Todo("get_cpu", "include/linux/smp.h");
    }

    /// <summary>Undoes <c>get_cpu</c>.</summary>
    public void put_cpu()
    {
        throw Todo("put_cpu", "include/linux/smp.h");
    }

    /// <summary>This CPU's id; reported as a bug in preemptible code.</summary>
    public int smp_processor_id()
    {
        throw Todo("smp_processor_id", "lib/smp_processor_id.c");
    }

    /// <summary>Disables softirq processing on this CPU (adds <c>SOFTIRQ_DISABLE_OFFSET</c>).</summary>
    public void local_bh_disable()
    {
        throw Todo("local_bh_disable", "include/linux/bottom_half.h");
    }

    /// <summary>Re-enables softirq processing; runs pending softirqs when it reaches zero.</summary>
    public void local_bh_enable()
    {
        throw Todo("local_bh_enable", "kernel/softirq.c");
    }

    /// <summary>Enters hard-IRQ context (adds <c>HARDIRQ_OFFSET</c>).</summary>
    public void irq_enter()
    {
        throw Todo("irq_enter", "kernel/softirq.c");
    }

    /// <summary>Leaves hard-IRQ context; runs pending softirqs when leaving the outermost level.</summary>
    public void irq_exit()
    {
        throw Todo("irq_exit", "kernel/softirq.c");
    }

    /// <summary>True in hard-IRQ, softirq or NMI context, or with bottom halves disabled.</summary>
    public bool in_interrupt()
    {
        throw Todo("in_interrupt", "include/linux/preempt.h");
    }

    /// <summary>True in hard-IRQ context.</summary>
    public bool in_hardirq()
    {
        throw Todo("in_hardirq", "include/linux/preempt.h");
    }

    /// <summary>The deprecated name of <c>in_hardirq()</c>.</summary>
    public bool in_irq()
    {
        throw Todo("in_irq", "include/linux/preempt.h");
    }

    /// <summary>True while serving softirqs or with bottom halves disabled.</summary>
    public bool in_softirq()
    {
        throw Todo("in_softirq", "include/linux/preempt.h");
    }

    /// <summary>True only while serving softirqs.</summary>
    public bool in_serving_softirq()
    {
        throw Todo("in_serving_softirq", "include/linux/preempt.h");
    }

    /// <summary>True in NMI context.</summary>
    public bool in_nmi()
    {
        throw Todo("in_nmi", "include/linux/preempt.h");
    }

    /// <summary>True in process (task) context.</summary>
    public bool in_task()
    {
        throw Todo("in_task", "include/linux/preempt.h");
    }

    /// <summary>True when the preempt count is non-zero.</summary>
    public bool in_atomic()
    {
        throw Todo("in_atomic", "include/linux/preempt.h");
    }

    /// <summary>A CPU's copy of a per-CPU variable.</summary>
    public ref T per_cpu<T>(percpu<T> v, int cpu)
    {
        throw Todo("per_cpu", "include/linux/percpu-defs.h");
    }

    /// <summary>Disables preemption and returns this CPU's copy.</summary>
    public ref T get_cpu_var<T>(percpu<T> v)
    {
        throw Todo("get_cpu_var", "include/linux/percpu-defs.h");
    }

    /// <summary>Undoes <c>get_cpu_var</c>.</summary>
    public void put_cpu_var<T>(percpu<T> v)
    {
        throw Todo("put_cpu_var", "include/linux/percpu-defs.h");
    }

    /// <summary>This CPU's copy (the caller keeps preemption disabled).</summary>
    public ref T this_cpu_ptr<T>(percpu<T> v)
    {
        throw Todo("this_cpu_ptr", "include/linux/percpu-defs.h");
    }

    /// <summary>Reads this CPU's copy, safe against preemption.</summary>
    public T this_cpu_read<T>(percpu<T> v)
    {
        throw Todo("this_cpu_read", "include/linux/percpu-defs.h");
    }

    /// <summary>Writes this CPU's copy, safe against preemption.</summary>
    public void this_cpu_write<T>(percpu<T> v, T val)
    {
        throw Todo("this_cpu_write", "include/linux/percpu-defs.h");
    }

    /// <summary>Adds to this CPU's copy, safe against preemption and interrupts.</summary>
    public void this_cpu_add<T>(percpu<T> v, T val)
        where T : INumber<T>
    {
        throw Todo("this_cpu_add", "include/linux/percpu-defs.h");
    }

    /// <summary>Increments this CPU's copy.</summary>
    public void this_cpu_inc<T>(percpu<T> v)
        where T : INumber<T>
    {
        throw Todo("this_cpu_inc", "include/linux/percpu-defs.h");
    }

    /// <summary>Decrements this CPU's copy.</summary>
    public void this_cpu_dec<T>(percpu<T> v)
        where T : INumber<T>
    {
        throw Todo("this_cpu_dec", "include/linux/percpu-defs.h");
    }

    private static NotImplementedException Todo(string function, string linux) =>
        new($"{function}() is not implemented yet: write it in CpuState.cs (in Linux: {linux}). See README.md.");
}
