using System;
using System.Collections.Generic;

namespace KernelHarness.Runtime;

/// <summary>
/// The simulated interrupt controller and the entry path of an interrupt (arch/x86/kernel/irq.c
/// <c>common_interrupt</c>): a raised line stays pending until a CPU with interrupts enabled reaches
/// an interleaving point; delivery enters hard-IRQ context through the bound cpu-state subsystem,
/// dispatches through the bound irq subsystem, checks the handler left the CPU as it found it, and
/// runs softirqs on the way out.
/// </summary>
internal sealed class InterruptController
{
    private readonly Machine machine;
    private readonly bool[] pending;
    private readonly bool[] masked;
    private int pendingCount;
    private readonly uint[] randomLines;
    private readonly int randomPer1024;
    private SeededRandom randomIrqs; // a mutable struct: not readonly, or every draw would use a copy

    /// <summary>The line the timer tick arrives on (no handler: it only drives softirqs).</summary>
    public const uint TimerIrq = uint.MaxValue;

    public InterruptController(Machine machine)
    {
        this.machine = machine;
        pending = new bool[machine.Config.NrIrqs];
        masked = new bool[machine.Config.NrIrqs];
        randomLines = new uint[machine.Config.RandomIrqLines.Count];
        for (int i = 0; i < randomLines.Length; i++)
        {
            randomLines[i] = machine.Config.RandomIrqLines[i];
            CheckLine(randomLines[i]);
        }
        randomPer1024 = machine.Config.RandomIrqPer1024;
        randomIrqs = new SeededRandom(machine.Config.Seed ^ 0x1F0_1F0_1F0UL);
    }

    /// <summary>True when the machine raises lines by itself (<see cref="MachineConfig.RandomIrqLines"/>).</summary>
    public bool RaisesRandomly => randomLines.Length > 0;

    /// <summary>At a kernel API call: raises one of the configured lines with the configured chance (seeded, its own stream).</summary>
    public void MaybeRaiseRandom()
    {
        if (randomIrqs.Next(1024) < randomPer1024)
            Raise(randomLines[randomIrqs.Next(randomLines.Length)]);
    }

    public int NrIrqs => pending.Length;

    public bool AnyPending => pendingCount > 0;

    /// <summary>A device asserts the line: the interrupt is delivered at the next interleaving point of a CPU with interrupts enabled.</summary>
    public void Raise(uint irq)
    {
        CheckLine(irq);
        if (!pending[irq])
        {
            pending[irq] = true;
            pendingCount++;
        }
        machine.Attention();
        machine.TraceEvent($"raise irq {irq}");
    }

    public void Mask(uint irq)
    {
        CheckLine(irq);
        masked[irq] = true;
    }

    public void Unmask(uint irq)
    {
        CheckLine(irq);
        masked[irq] = false;
    }

    public bool IsMasked(uint irq) => irq < masked.Length && masked[irq];

    public bool IsPending(uint irq) => irq < pending.Length && pending[irq];

    private void CheckLine(uint irq)
    {
        if (irq >= pending.Length)
            throw new ArgumentOutOfRangeException(nameof(irq), irq, $"The interrupt controller has lines 0..{pending.Length - 1}.");
    }

    /// <summary>Delivers every pending, unmasked line to <paramref name="cpu"/>, lowest line first; false when none could be (all masked).</summary>
    public bool DeliverPending(Cpu cpu)
    {
        bool delivered = false;
        for (uint irq = 0; irq < pending.Length && pendingCount > 0; irq++)
        {
            if (!pending[irq] || masked[irq] || !cpu.IrqsEnabled)
                continue;
            pending[irq] = false;
            pendingCount--;
            delivered = true;
            Deliver(cpu, irq);
        }
        return delivered;
    }

    /// <summary>A timer tick on <paramref name="cpu"/>: hard-IRQ entry and exit, so pending softirqs run.</summary>
    public void DeliverTick(Cpu cpu) => Deliver(cpu, TimerIrq);

    private void Deliver(Cpu cpu, uint irq)
    {
        var task = machine.CurrentSim;
        machine.TraceEvent(irq == TimerIrq ? $"tick cpu {cpu.Id}" : $"irq {irq} cpu {cpu.Id}");
        cpu.IrqsEnabled = false; // the CPU clears IF when it takes the interrupt
        cpu.IrqNesting++;
        int before = cpu.PreemptCount;
        int heldBefore = task.HeldLocks.Count;
        var cpuState = machine.CpuState;
        cpuState.irq_enter();
        if ((cpu.PreemptCount & Kernel.HARDIRQ_MASK) == 0)
            machine.ReportContract("irq_enter() did not add HARDIRQ_OFFSET to the preempt count");
        if (irq != TimerIrq)
        {
            try
            {
                machine.Irq.generic_handle_irq(irq);
            }
            catch (KernelOopsException)
            {
                // BUG_ON or a sleep in the handler: already reported; the handler dies, the CPU goes on.
            }
            catch (Exception ex) when (ex is not TaskKilledException)
            {
                machine.Report(ReportKind.Oops, $"Oops: unhandled {ex.GetType().Name} in interrupt handler for irq {irq}: {ex.Message}",
                    new[] { "Kernel panic - not syncing: Fatal exception in interrupt" }, exception: ex);
            }
            if (cpu.IrqsEnabled)
            {
                machine.Report(ReportKind.IrqStateLeak, $"irq {irq} handler enabled interrupts",
                    new[] { "A hard-IRQ handler runs with interrupts disabled and must return that way (kernel/irq/handle.c)." });
                cpu.IrqsEnabled = false;
            }
            int expected = before + Kernel.HARDIRQ_OFFSET;
            if (cpu.PreemptCount != expected)
            {
                machine.Report(ReportKind.PreemptCountLeak, $"irq {irq} handler preempt leak: {expected:x8} -> {cpu.PreemptCount:x8}",
                    new[] { "The handler returned with the preempt count changed: a spin_lock()/preempt_disable() not undone?" });
                cpu.PreemptCount = expected;
            }
            if (task.HeldLocks.Count > heldBefore)
                machine.ReportLocksLeaked(task, heldBefore, $"irq {irq} handler");
        }
        cpuState.irq_exit();
        cpu.IrqNesting--;
        if (cpu.PreemptCount != before)
        {
            machine.ReportContract($"irq_enter()/irq_exit() did not restore the preempt count ({before:x8} -> {cpu.PreemptCount:x8})");
            cpu.PreemptCount = before;
        }
        cpu.IrqsEnabled = true; // iret restores IF (it was set, or we would not have been interrupted)
    }
}

/// <summary>Softirq vectors (include/linux/interrupt.h).</summary>
internal static class Softirq
{
    public const int HI_SOFTIRQ = 0;
    public const int TIMER_SOFTIRQ = 1;
    public const int TASKLET_SOFTIRQ = 6;
    public const int SCHED_SOFTIRQ = 7;
    public const int RCU_SOFTIRQ = 9;
    public const int NR_SOFTIRQS = 10;

    /// <summary>How many times <c>__do_softirq</c> restarts before leaving the rest to ksoftirqd.</summary>
    public const int MAX_SOFTIRQ_RESTART = 10;
}

/// <summary>
/// Kernel timers (<c>timer_list</c>): armed timers ordered by expiry; expired ones run in
/// TIMER_SOFTIRQ on the CPU that armed them (kernel/time/timer.c).
/// </summary>
internal sealed class TimerQueue
{
    private readonly Machine machine;
    private readonly SortedSet<(ulong Expires, long Seq, timer_list Timer)> armed = new(Comparer);
    private readonly List<timer_list>[] expired;
    private long seq;

    private static readonly IComparer<(ulong Expires, long Seq, timer_list Timer)> Comparer =
        Comparer<(ulong Expires, long Seq, timer_list Timer)>.Create((a, b) =>
        {
            int c = a.Expires.CompareTo(b.Expires);
            return c != 0 ? c : a.Seq.CompareTo(b.Seq);
        });

    public TimerQueue(Machine machine)
    {
        this.machine = machine;
        expired = new List<timer_list>[machine.Config.Cpus];
        for (int i = 0; i < expired.Length; i++)
            expired[i] = new List<timer_list>();
    }

    public ulong NextExpiry => armed.Count == 0 ? ulong.MaxValue : armed.Min.Expires;

    /// <summary>Arms (or re-arms) a timer on <paramref name="cpu"/>; true when it was pending.</summary>
    public bool Arm(timer_list timer, ulong expires, int cpu)
    {
        bool wasPending = Disarm(timer);
        timer.expires = expires;
        timer.pending = true;
        timer.sequence = ++seq;
        timer.cpu = cpu;
        armed.Add((expires, timer.sequence, timer));
        return wasPending;
    }

    /// <summary>Removes a timer from the queue (armed or expired-not-run); true when it was pending.</summary>
    public bool Disarm(timer_list timer)
    {
        if (!timer.pending)
            return false;
        timer.pending = false;
        if (!armed.Remove((timer.expires, timer.sequence, timer)))
            expired[timer.cpu].Remove(timer);
        return true;
    }

    /// <summary>Moves every timer due at <paramref name="now"/> to its CPU's expired list and raises TIMER_SOFTIRQ there.</summary>
    public void Expire(ulong now)
    {
        while (armed.Count > 0 && (long)(armed.Min.Expires - now) <= 0)
        {
            var entry = armed.Min;
            armed.Remove(entry);
            expired[entry.Timer.cpu].Add(entry.Timer);
            machine.RaiseSoftirq(entry.Timer.cpu, Softirq.TIMER_SOFTIRQ);
        }
    }

    /// <summary>Takes the expired timers of <paramref name="cpu"/> (TIMER_SOFTIRQ's work).</summary>
    public timer_list[] TakeExpired(int cpu)
    {
        var list = expired[cpu];
        if (list.Count == 0)
            return Array.Empty<timer_list>();
        var due = list.ToArray();
        list.Clear();
        return due;
    }
}
