using System;
using System.Collections.Generic;

namespace KernelHarness.Runtime;

// The softirq side of deferred work (kernel/softirq.c tasklet_action, kernel/time/timer.c
// run_timer_softirq): what runs when TASKLET/HI/TIMER softirqs are pending, with the checks Linux
// makes around each callback.
public sealed partial class Machine
{
    private void OpenDeferredWorkSoftirqs()
    {
        OpenSoftirq(Softirq.HI_SOFTIRQ, cpu => RunTasklets(cpu, cpu.HiTasklets, Softirq.HI_SOFTIRQ));
        OpenSoftirq(Softirq.TASKLET_SOFTIRQ, cpu => RunTasklets(cpu, cpu.Tasklets, Softirq.TASKLET_SOFTIRQ));
        OpenSoftirq(Softirq.TIMER_SOFTIRQ, RunTimers);
    }

    /// <summary>Queues a tasklet on the current CPU (tasklet_schedule).</summary>
    internal void QueueTasklet(tasklet_struct t, bool hi)
    {
        if (t.scheduled)
            return;
        var cpu = CurrentCpu;
        t.scheduled = true;
        t.cpu = cpu.Id;
        (hi ? cpu.HiTasklets : cpu.Tasklets).Add(t);
        RaiseSoftirq(cpu.Id, hi ? Softirq.HI_SOFTIRQ : Softirq.TASKLET_SOFTIRQ);
    }

    private void RunTasklets(Cpu cpu, List<tasklet_struct> list, int nr)
    {
        var batch = list.ToArray();
        list.Clear();
        foreach (var t in batch)
        {
            if (t.count > 0)
            {
                // Disabled: keep it queued and try again later (tasklet_action_common).
                list.Add(t);
                RaiseSoftirq(cpu.Id, nr);
                continue;
            }
            t.scheduled = false;
            t.running = true;
            RunCallback(cpu, "tasklet", t.callback?.Method, () => t.callback?.Invoke(t));
            t.running = false;
        }
    }

    private void RunTimers(Cpu cpu)
    {
        foreach (var timer in Timers.TakeExpired(cpu.Id))
        {
            if (!timer.pending)
                continue;
            timer.pending = false;
            timer.running = true;
            RunCallback(cpu, "timer", timer.function?.Method, () => timer.function?.Invoke(timer));
            timer.running = false;
        }
    }

    /// <summary>Runs a deferred callback and reports what it leaked (call_timer_fn's "preempt leak").</summary>
    private void RunCallback(Cpu cpu, string what, System.Reflection.MethodInfo? method, Action callback)
    {
        int before = cpu.PreemptCount;
        bool irqsBefore = cpu.IrqsEnabled;
        var task = CurrentSim;
        int heldBefore = task.HeldLocks.Count;
        try
        {
            callback();
        }
        catch (KernelOopsException)
        {
            // BUG_ON or a sleep in softirq context: already reported; the callback dies, the CPU goes on.
        }
        catch (Exception ex) when (ex is not TaskKilledException)
        {
            Report(ReportKind.Oops, $"Oops: unhandled {ex.GetType().Name} in {what} {method?.Name}: {ex.Message}", null, exception: ex);
        }
        if (cpu.PreemptCount != before)
        {
            Report(ReportKind.PreemptCountLeak, $"{what}: {method?.Name} preempt leak: {before:x8} -> {cpu.PreemptCount:x8}");
            cpu.PreemptCount = before;
        }
        if (cpu.IrqsEnabled != irqsBefore)
        {
            Report(ReportKind.IrqStateLeak, $"{what}: {method?.Name} {(cpu.IrqsEnabled ? "enabled" : "disabled")} interrupts and did not restore them");
            cpu.IrqsEnabled = irqsBefore;
        }
        if (task.HeldLocks.Count > heldBefore)
            ReportLocksLeaked(task, heldBefore, $"{what} {method?.Name}");
    }

    /// <summary>Runs a work item's function on a worker and reports leaks ("BUG: workqueue leaked atomic, lock or RCU").</summary>
    internal void RunWork(work_struct work)
    {
        var cpu = CurrentCpu;
        var t = CurrentSim;
        int before = cpu.PreemptCount;
        int heldBefore = t.HeldLocks.Count;
        int rcuBefore = t.RcuDepth;
        try
        {
            work.func?.Invoke(work);
        }
        catch (Exception ex) when (ex is not TaskKilledException and not KernelOopsException)
        {
            Report(ReportKind.Oops, $"Oops: unhandled {ex.GetType().Name} in work item {work.func?.Method.Name}: {ex.Message}", null, exception: ex);
        }
        cpu = CurrentCpu;
        if (cpu.PreemptCount != before || t.HeldLocks.Count != heldBefore || t.RcuDepth != rcuBefore || !cpu.IrqsEnabled)
        {
            Report(ReportKind.PreemptCountLeak,
                $"BUG: workqueue leaked atomic, lock or RCU: {t.Comm}[{t.Pid}]",
                new[] { $"     preempt=0x{cpu.PreemptCount:x8} lock={heldBefore}->{t.HeldLocks.Count} RCU={rcuBefore}->{t.RcuDepth} workfn={work.func?.Method.Name}" });
            cpu.PreemptCount = before;
            cpu.IrqsEnabled = true;
            if (t.HeldLocks.Count > heldBefore)
                t.HeldLocks.RemoveRange(heldBefore, t.HeldLocks.Count - heldBefore);
            t.RcuDepth = rcuBefore;
        }
    }
}
