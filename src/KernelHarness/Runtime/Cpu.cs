using System.Collections.Generic;

namespace KernelHarness.Runtime;

/// <summary>
/// One simulated CPU: the raw state a real CPU and its per-CPU area hold — the preempt count
/// (Linux's per-CPU <c>__preempt_count</c>, layout of include/linux/preempt.h), the interrupt flag
/// (EFLAGS.IF), pending softirqs — and the task it runs.
/// </summary>
internal sealed class Cpu
{
    public Cpu(int id, Machine machine)
    {
        Id = id;
        this.machine = machine;
    }

    private readonly Machine machine;
    private bool irqsEnabled = true;

    public readonly int Id;

    /// <summary>The preempt count word.</summary>
    public int PreemptCount;

    /// <summary>The interrupt flag: interrupts are delivered only while it is set (setting it makes the next interleaving point look for them).</summary>
    public bool IrqsEnabled
    {
        get => irqsEnabled;
        set
        {
            irqsEnabled = value;
            if (value)
                machine.Attention();
        }
    }

    /// <summary>The task on this CPU (its idle task when there is nothing else to run).</summary>
    public SimTask Current = null!;

    /// <summary>The idle task (<c>swapper/N</c>).</summary>
    public SimTask Idle = null!;

    /// <summary>Pending softirq bits (<c>local_softirq_pending()</c>).</summary>
    public uint SoftirqPending;

    /// <summary>Set when the task should reschedule at the next preemption point.</summary>
    public bool NeedResched;

    /// <summary>Hard-IRQ nesting on this CPU, for delivery bookkeeping.</summary>
    public int IrqNesting;

    /// <summary>Tasklets queued on this CPU (TASKLET_SOFTIRQ, HI_SOFTIRQ).</summary>
    public readonly List<tasklet_struct> Tasklets = new();
    public readonly List<tasklet_struct> HiTasklets = new();

    public override string ToString() => $"CPU#{Id} pc:{PreemptCount:x8} if:{(IrqsEnabled ? 1 : 0)} current:{Current?.Comm}";
}
