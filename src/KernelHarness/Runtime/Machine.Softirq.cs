using System;

namespace KernelHarness.Runtime;

// Softirqs (kernel/softirq.c): pending bits per CPU, handlers registered by subsystems, and
// __do_softirq run on the way out of an interrupt or when bottom halves are re-enabled.
public sealed partial class Machine
{
    private readonly Action<Cpu>?[] softirqHandlers = new Action<Cpu>?[Softirq.NR_SOFTIRQS];

    /// <summary><c>open_softirq</c>: sets the handler of a softirq vector.</summary>
    internal void OpenSoftirq(int nr, Action<Cpu> handler) => softirqHandlers[nr] = handler;

    /// <summary><c>raise_softirq</c> on a CPU.</summary>
    internal void RaiseSoftirq(int cpu, int nr)
    {
        Cpus[cpu].SoftirqPending |= 1u << nr;
        Attention();
    }

    /// <summary>
    /// <c>__do_softirq</c>: runs the pending softirqs of the current CPU in softirq context
    /// (SOFTIRQ_OFFSET added through the bound cpu-state subsystem), with interrupts enabled.
    /// Does nothing in interrupt context or with nothing pending.
    /// </summary>
    internal void DoSoftirq()
    {
        var cpu = CurrentCpu;
        if (cpu.SoftirqPending == 0 || (cpu.PreemptCount & (Kernel.HARDIRQ_MASK | Kernel.SOFTIRQ_MASK | Kernel.NMI_MASK)) != 0)
            return;
        bool irqsWereEnabled = cpu.IrqsEnabled;
        CpuState.preempt_count_add(Kernel.SOFTIRQ_OFFSET);
        int restart = Softirq.MAX_SOFTIRQ_RESTART;
        do
        {
            uint pending = cpu.SoftirqPending;
            cpu.SoftirqPending = 0;
            cpu.IrqsEnabled = true;
            for (int nr = 0; nr < Softirq.NR_SOFTIRQS; nr++)
            {
                if ((pending & (1u << nr)) == 0)
                    continue;
                int before = cpu.PreemptCount;
                softirqHandlers[nr]?.Invoke(cpu);
                if (cpu.PreemptCount != before)
                {
                    Report(ReportKind.PreemptCountLeak,
                        $"huh, entered softirq {nr} {SoftirqName(nr)} with preempt_count {before:x8}, exited with {cpu.PreemptCount:x8}?");
                    cpu.PreemptCount = before;
                }
            }
            cpu.IrqsEnabled = false;
        }
        while (cpu.SoftirqPending != 0 && --restart > 0);
        CpuState.preempt_count_sub(Kernel.SOFTIRQ_OFFSET);
        cpu.IrqsEnabled = irqsWereEnabled;
    }

    internal static string SoftirqName(int nr) => nr switch
    {
        Softirq.HI_SOFTIRQ => "HI",
        Softirq.TIMER_SOFTIRQ => "TIMER",
        Softirq.TASKLET_SOFTIRQ => "TASKLET",
        Softirq.SCHED_SOFTIRQ => "SCHED",
        Softirq.RCU_SOFTIRQ => "RCU",
        _ => nr.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    /// <summary>A device raises interrupt line <paramref name="irq"/>: delivered at the next interleaving point of a CPU with interrupts enabled.</summary>
    public void RaiseIrq(uint irq) => Interrupts.Raise(irq);

    /// <summary>True while line <paramref name="irq"/> is raised and not yet delivered.</summary>
    public bool IsIrqPending(uint irq) => Interrupts.IsPending(irq);
}
