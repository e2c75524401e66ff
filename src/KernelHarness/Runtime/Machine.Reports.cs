using System;
using System.Collections.Generic;
using System.Globalization;
using System.Runtime.CompilerServices;

namespace KernelHarness.Runtime;

// The debug-kernel checks the runtime makes itself (kernel-api.md §5) and the one way reports are made.
public sealed partial class Machine
{
    /// <summary>Makes a report about the running task, with the C# call trace of student code.</summary>
    internal KernelReport Report(ReportKind kind, string title, IReadOnlyList<string>? details = null, string? function = null, Exception? exception = null)
    {
        var t = t_task;
        var frames = exception is not null ? StackCapture.FromException(exception) : StackCapture.Capture(1);
        var report = new KernelReport
        {
            Kind = kind,
            Title = title,
            Details = details ?? Array.Empty<string>(),
            Pid = t?.Pid ?? 0,
            Comm = t?.Comm ?? "",
            Cpu = t?.Cpu ?? 0,
            Jiffies = jiffies,
            Location = StackCapture.FirstUserLocation(frames),
            CallTrace = frames,
            Function = function,
        };
        AddReport(report);
        return report;
    }

    /// <summary>A subsystem implementation broke a contract the facade or the machine checks.</summary>
    internal void ReportContract(string what) =>
        Report(ReportKind.ContractViolation, $"KernelHarness: contract violated: {what}");

    internal void ReportLocksLeaked(SimTask t, int heldBefore, string where)
    {
        var lines = new List<string>();
        for (int i = heldBefore; i < t.HeldLocks.Count; i++)
            lines.Add($" #{i}: ({t.HeldLocks[i].Lock.Name}){{{t.HeldLocks[i].Kind}}}, at: {t.HeldLocks[i].Site ?? "?"}");
        Report(ReportKind.LockHeldAtExit, $"BUG: {where} returned with {t.HeldLocks.Count - heldBefore} lock(s) held", lines);
        t.HeldLocks.RemoveRange(heldBefore, t.HeldLocks.Count - heldBefore);
    }

    /// <summary>
    /// <c>__might_sleep</c> (kernel/sched/core.c): a call that may sleep, made in atomic context, is
    /// reported once per call site: "BUG: sleeping function called from invalid context at FILE:LINE".
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void MightSleep(KernelFunctionId id, KernelContext exceptIn = KernelContext.None)
    {
        var t = t_task;
        if (t is null)
            return;
        var cpu = Cpus[t.Cpu];
        // The common case, inlined into the facade: preemptible task context, outside RCU.
        if ((cpu.PreemptCount & ~Kernel.PREEMPT_NEED_RESCHED) == 0 && cpu.IrqsEnabled && t.RcuDepth == 0)
            return;
        MightSleepSlow(t, cpu, id, exceptIn);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void MightSleepSlow(SimTask t, Cpu cpu, KernelFunctionId id, KernelContext exceptIn)
    {
        int pc = cpu.PreemptCount & ~Kernel.PREEMPT_NEED_RESCHED;
        bool irqsOff = !cpu.IrqsEnabled;
        if (t.IsIdle && pc == 0)
            return; // the idle loop itself; a tasklet or timer it runs is checked like any other
        if (pc == 0 && !irqsOff && t.RcuDepth == 0)
            return;
        if ((exceptIn & KernelContext.Interrupt) != 0 && (pc & (Kernel.HARDIRQ_MASK | Kernel.SOFTIRQ_OFFSET | Kernel.NMI_MASK)) != 0)
            return;
        var function = KernelFunctions.All[(int)id].Name;
        var location = StackCapture.FirstUserLocation(1) ?? function;
        if (!ReportOnce($"might_sleep:{function}:{location}"))
            return;
        var details = new List<string>
        {
            string.Create(CultureInfo.InvariantCulture,
                $"in_atomic(): {(pc != 0 ? 1 : 0)}, irqs_disabled(): {(irqsOff ? 1 : 0)}, non_block: 0, pid: {t.Pid}, name: {t.Comm}"),
            string.Create(CultureInfo.InvariantCulture, $"preempt_count: {pc:x}, expected: 0"),
            string.Create(CultureInfo.InvariantCulture, $"RCU nest depth: {t.RcuDepth}, expected: 0"),
            $"{function}() may sleep, but {DescribeAtomicContext(t, cpu)}",
        };
        AddHeldLocks(details, t);
        Report(ReportKind.SleepInAtomic, $"BUG: sleeping function called from invalid context at {location}", details, function);
    }

    /// <summary>Why the current point is atomic, in words ("spinlock 'rx_lock' is held (taken at Driver.cs:41)").</summary>
    internal string DescribeAtomicContext(SimTask t, Cpu cpu)
    {
        int pc = cpu.PreemptCount;
        if ((pc & Kernel.HARDIRQ_MASK) != 0)
            return "this is hard-IRQ context (an interrupt handler)";
        if ((pc & Kernel.SOFTIRQ_OFFSET) != 0)
            return "this is softirq context (a tasklet or timer)";
        for (int i = t.HeldLocks.Count - 1; i >= 0; i--)
        {
            var held = t.HeldLocks[i];
            if (HeldLock.IsSleepingKind(held.Kind))
                continue;
            return $"{KindWord(held.Kind)} '{held.Lock.Name}' is held (taken at {held.Site ?? "?"})";
        }
        if (!cpu.IrqsEnabled)
            return "interrupts are disabled";
        if (t.RcuDepth > 0)
            return "this is inside rcu_read_lock()";
        if ((pc & Kernel.SOFTIRQ_MASK) != 0)
            return "bottom halves are disabled";
        return "preemption is disabled (preempt_disable(), get_cpu() or get_cpu_var())";
    }

    private static string KindWord(LockKind kind) => kind switch
    {
        LockKind.Spin or LockKind.SpinIrq or LockKind.SpinIrqSave or LockKind.SpinBh => "spinlock",
        LockKind.ReadLock or LockKind.ReadLockIrq or LockKind.ReadLockIrqSave or LockKind.ReadLockBh => "rwlock (read)",
        LockKind.WriteLock or LockKind.WriteLockIrq or LockKind.WriteLockIrqSave or LockKind.WriteLockBh => "rwlock (write)",
        _ => kind.ToString(),
    };

    internal static void AddHeldLocks(List<string> details, SimTask t)
    {
        if (t.HeldLocks.Count == 0)
            return;
        details.Add($"{t.HeldLocks.Count} lock{(t.HeldLocks.Count == 1 ? "" : "s")} held by {t.Comm}/{t.Pid}:");
        for (int i = 0; i < t.HeldLocks.Count; i++)
            details.Add($" #{i}: ({t.HeldLocks[i].Lock.Name}){{{t.HeldLocks[i].Kind}}}, at: {t.HeldLocks[i].Site ?? "?"}");
    }

    /// <summary>
    /// <c>check_preemption_disabled</c> (lib/smp_processor_id.c): using the CPU id in preemptible code
    /// is a bug, since the task may migrate right after.
    /// </summary>
    internal void CheckPreemptionDisabled(string what)
    {
        var t = t_task;
        if (t is null || t.IsIdle)
            return;
        var cpu = Cpus[t.Cpu];
        if (cpu.PreemptCount != 0 || !cpu.IrqsEnabled || Cpus.Length == 1)
            return;
        var location = StackCapture.FirstUserLocation(1) ?? what;
        if (!ReportOnce($"preemptible:{what}:{location}"))
            return;
        Report(ReportKind.SmpProcessorIdPreemptible,
            string.Create(CultureInfo.InvariantCulture, $"BUG: using {what}() in preemptible [{cpu.PreemptCount:x8}] code: {t.Comm}/{t.Pid}"),
            new[] { $"caller is {location}" }, what);
    }
}

public sealed partial class Machine
{
    /// <summary>
    /// A kernel WARN: the message (Linux prints it first) becomes the title, followed by
    /// "WARNING: CPU: N PID: P at LOCATION FUNCTION" and the call trace.
    /// </summary>
    public KernelReport Warn(string message, string? function = null, ReportKind kind = ReportKind.Warning)
    {
        var t = t_task;
        var location = StackCapture.FirstUserLocation(1) ?? "?";
        return Report(kind, message,
            new[] { string.Create(System.Globalization.CultureInfo.InvariantCulture, $"WARNING: CPU: {t?.Cpu ?? 0} PID: {t?.Pid ?? 0} at {location} {function}") },
            function);
    }
}
