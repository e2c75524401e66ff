using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Runtime.CompilerServices;

namespace KernelHarness.Runtime;

// The seeded scheduler. Invariants:
//  - exactly one task thread of the machine executes (holds the baton) at any time;
//  - every CPU has a current task (its idle task when nothing else runs);
//  - a task is on at most one of: a CPU, the run queue, blocked;
//  - the baton moves only at kernel API calls (Interleave), when a task sleeps or exits, and in the idle loop.
public sealed partial class Machine
{
    /// <summary>The last kernel function entered, for reports.</summary>
    internal KernelFunctionId LastFunction;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void Interleave(KernelFunctionId id) => Interleave(id, t_task!);

    /// <summary>
    /// The interleaving point of a kernel API call made by <paramref name="t"/>. The common path counts the
    /// call and compares it with <see cref="slowAt"/>, the call at which something is due: the next tick,
    /// the next scheduling event (drawn once, see <see cref="NextEventGap"/>), or — when it is 0 — whatever
    /// asked for attention since (an interrupt or softirq raised, interrupts enabled, <c>need_resched</c>,
    /// another task resumed: <see cref="Attention"/>). Everything else is in <see cref="InterleaveSlow"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void Interleave(KernelFunctionId id, SimTask t)
    {
        LastFunction = id;
        if (++calls >= slowAt)
            InterleaveSlow(t); // also where a stopping machine unwinds its tasks (Finish and Teardown ask for attention)
    }

    /// <summary>The call number at which the interleaving point next takes its slow path (0: the next call).</summary>
    private long slowAt;
    private long nextTickAt;                    // the call at which the next tick is due
    private long nextEventAt;                   // the call at which the next scheduling event fires

    /// <summary>Something the interleaving point must look at happened: the next call takes the slow path.</summary>
    internal void Attention() => slowAt = 0;

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void InterleaveSlow(SimTask t)
    {
        if (stopping)
        {
            slowAt = 0;
            throw new TaskKilledException();
        }
        if (InterleaveOff != 0)
        {
            // Inside the scheduler's own mm handling (LazyTlb): no switch, no interrupt, and the call
            // counts neither towards the tick nor towards the next event.
            nextTickAt++;
            if (nextEventAt != long.MaxValue)
                nextEventAt++;
            slowAt = 0;
            return;
        }
        var cpu = Cpus[t.Cpu];
        TickIfDue();
        if (Interrupts.RaisesRandomly)
            Interrupts.MaybeRaiseRandom();
        if (cpu.IrqsEnabled)
        {
            if (Interrupts.AnyPending)
                Interrupts.DeliverPending(cpu);
            if (cpu.SoftirqPending != 0 && (cpu.PreemptCount & (Kernel.HARDIRQ_MASK | Kernel.SOFTIRQ_MASK | Kernel.NMI_MASK)) == 0)
                Interrupts.DeliverTick(cpu);
        }
        if (calls >= nextEventAt || cpu.NeedResched)
            SchedulingEvent(t, cpu);
        // t may have been switched out and back in, on another CPU.
        cpu = Cpus[t.Cpu];
        bool attention = stopping || InterleaveOff != 0 || Interrupts.RaisesRandomly || cpu.NeedResched
            || (cpu.IrqsEnabled && (Interrupts.AnyPending || cpu.SoftirqPending != 0));
        slowAt = attention ? 0 : Math.Min(nextTickAt, nextEventAt);
    }

    /// <summary>
    /// A call where the countdown ran out (a CPU switch or a preemption point, in the proportions of
    /// <see cref="MachineConfig.CpuSwitchPer1024"/> and <see cref="MachineConfig.PreemptPer1024"/>), or where
    /// the CPU has <c>need_resched</c> set. Each call independently being an event with probability
    /// (switch + preempt)/1024 is the same process as geometric gaps between events, each event then
    /// choosing its kind: so the interleavings are distributed as if every call rolled the dice.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void SchedulingEvent(SimTask t, Cpu cpu)
    {
        bool preempt = cpu.NeedResched;
        if (calls >= nextEventAt)
        {
            if (!OthersMayRun(t.Cpu))
            {
                // Nothing else could run: a CPU switch or a preemption would find nothing to switch to, so
                // this event is a no-op, and the next one comes after the mean gap, with no draw.
                nextEventAt = calls + meanEventGap;
                return;
            }
            // One draw decides both the kind of this event (low half) and the gap to the next one (high half).
            ulong r = rng.NextUInt64();
            nextEventAt = calls + NextEventGap((uint)(r >> 32));
            if ((int)(((r & 0xFFFF_FFFFUL) * (ulong)eventPer1024) >> 32) < cpuSwitchPer1024)
            {
                if (Cpus.Length > 1)
                    SwitchToAnotherCpu(t, preferBusy: true);
                return;
            }
            preempt = true;
        }
        if (preempt && Preemptible(t, cpu) && runQueue.Count > 0)
            Preempt(t, cpu);
    }

    private readonly int callsPerTick;
    private readonly int cpuSwitchPer1024;
    private readonly int eventPer1024;          // CpuSwitchPer1024 + PreemptPer1024, at most 1024
    private readonly EventGaps? eventGaps;
    private readonly long meanEventGap;         // 1024 / eventPer1024, rounded

    /// <summary>True when a CPU switch or a preemption could run something else: a task waits on the run queue, or another CPU is busy.</summary>
    private bool OthersMayRun(int self)
    {
        if (runQueue.Count > 0)
            return true;
        foreach (var c in Cpus)
        {
            if (c.Id != self && (!c.Current.IsIdle || c.SoftirqPending != 0 || c.IrqNesting > 0))
                return true;
        }
        return false;
    }

    /// <summary>
    /// The number of calls until the next scheduling event: geometric with success probability
    /// p = <c>eventPer1024</c>/1024, i.e. P(gap &gt; k) = (1-p)^k, by inverting the distribution at the
    /// uniform 32-bit draw <paramref name="u"/> with a table computed in integer arithmetic, so the gap
    /// is the same on every platform.
    /// </summary>
    private long NextEventGap(uint u)
    {
        if (eventGaps is null)
            return eventPer1024 <= 0 ? long.MaxValue / 2 : 1;
        return eventGaps.Gap(u);
    }

    /// <summary>The inverse of the geometric distribution's survival function, with a guide table by the draw's top bits.</summary>
    internal sealed class EventGaps
    {
        private const int GuideBits = 10;
        private readonly ulong[] survival;  // survival[k] = floor(2^32 * (1 - p)^k), decreasing, ending in 0
        private readonly int[] guide;       // guide[j]: the gap of the bucket's highest draw, the smallest gap in the bucket

        private EventGaps(int per1024)
        {
            var table = new List<ulong> { 1UL << 32 };
            ulong q = (ulong)(1024 - per1024);
            while (table[^1] != 0)
                table.Add(table[^1] * q / 1024);
            survival = table.ToArray();
            guide = new int[1 << GuideBits];
            for (int j = 0; j < guide.Length; j++)
                guide[j] = Search((uint)((((ulong)j + 1) << (32 - GuideBits)) - 1), 1);
        }

        /// <summary>The smallest k &gt;= <paramref name="from"/> with u &gt;= survival[k].</summary>
        private int Search(uint u, int from)
        {
            int k = from;
            while (u < survival[k])
                k++;
            return k;
        }

        // The gap falls as the draw grows: u's gap is at least that of its bucket's highest draw; from there, a step or two.
        public long Gap(uint u) => Search(u, guide[u >> (32 - GuideBits)]);

        private static readonly System.Collections.Concurrent.ConcurrentDictionary<int, EventGaps> Tables = new();

        public static EventGaps? For(int per1024) =>
            per1024 <= 0 || per1024 >= 1024 ? null : Tables.GetOrAdd(per1024, p => new EventGaps(p));
    }

    /// <summary>A tick every <c>callsPerTick</c> calls, over all CPUs.</summary>
    private void TickIfDue()
    {
        if (calls >= nextTickAt)
        {
            nextTickAt = calls + callsPerTick;
            AdvanceClock(jiffies + 1);
        }
    }

    private static bool Preemptible(SimTask t, Cpu cpu) =>
        !t.IsIdle && cpu.PreemptCount == 0 && cpu.IrqsEnabled && ReferenceEquals(cpu.Current, t);

    /// <summary>A busy-wait step (<c>cpu_relax</c>, spinning on a lock): lets another CPU run.</summary>
    internal void Relax()
    {
        if (stopping)
            throw new TaskKilledException();
        var t = t_task!;
        var cpu = Cpus[t.Cpu];
        calls++;
        TickIfDue();
        if (cpu.IrqsEnabled && Interrupts.AnyPending)
            Interrupts.DeliverPending(cpu);
        if (!SwitchToAnotherCpu(t, preferBusy: true) && Preemptible(t, cpu) && runQueue.Count > 0)
            Preempt(t, cpu);
    }

    /// <summary>Hands the baton to another CPU's current task; false when no other CPU has anything to do.</summary>
    private bool SwitchToAnotherCpu(SimTask t, bool preferBusy)
    {
        Span<int> candidates = stackalloc int[Cpus.Length];
        int n = 0;
        foreach (var c in Cpus)
        {
            if (c.Id == t.Cpu)
                continue;
            // A CPU in the middle of an interrupt (even on its idle task) has work to finish.
            bool busy = !c.Current.IsIdle || c.SoftirqPending != 0 || c.IrqNesting > 0;
            bool idleWithWork = c.Current.IsIdle && runQueue.Count > 0;
            if (busy || (preferBusy && idleWithWork))
                candidates[n++] = c.Id;
        }
        if (n == 0)
            return false;
        var next = Cpus[candidates[rng.Next(n)]].Current;
        TraceEvent($"cpu {t.Cpu}->{next.Cpu}");
        HandOff(t, next);
        return true;
    }

    /// <summary>Passes the baton from the running task to <paramref name="next"/> and parks the caller.</summary>
    private static void HandOff(SimTask prev, SimTask next)
    {
        if (ReferenceEquals(prev, next))
            return;
        next.Resume();
        prev.Park();
    }

    private void Preempt(SimTask t, Cpu cpu)
    {
        cpu.NeedResched = false;
        t.State = SimTaskState.Queued;
        runQueue.Add(t);
        var next = DequeueRunnable();
        TraceEvent($"preempt {t.Comm}/{t.Pid} -> {next.Comm}/{next.Pid} on {cpu.Id}");
        ContextSwitch(cpu, t, next);
    }

    private SimTask DequeueRunnable()
    {
        // FIFO with a seeded choice between the two oldest: fair, yet interleavings vary with the seed.
        int index = runQueue.Count > 1 ? rng.Next(2) : 0;
        var next = runQueue[index];
        runQueue.RemoveAt(index);
        return next;
    }

    /// <summary>Called on a switch, after <c>current</c> changes: lazy-TLB bookkeeping of active_mm.</summary>
    internal Action<Cpu, SimTask, SimTask>? ContextSwitchHook = Reference.AddressSpace.LazyTlb.ContextSwitch;

    /// <summary>Non-zero while the scheduler calls the address-space subsystem at a switch: kernel API calls made there are not interleaving points.</summary>
    internal int InterleaveOff;

    private void ContextSwitch(Cpu cpu, SimTask prev, SimTask next)
    {
        prev.SavedPreemptCount = cpu.PreemptCount;
        prev.SavedIrqsEnabled = cpu.IrqsEnabled;
        cpu.Current = next;
        next.State = SimTaskState.OnCpu;
        next.Cpu = cpu.Id;
        next.Task.cpu = cpu.Id;
        cpu.PreemptCount = next.SavedPreemptCount;
        cpu.IrqsEnabled = next.SavedIrqsEnabled;
        ContextSwitchHook?.Invoke(cpu, prev, next);
        if (prev.State == SimTaskState.Dead)
        {
            next.Resume();
            return;
        }
        HandOff(prev, next);
    }

    /// <summary>
    /// <c>schedule()</c>: gives up the CPU. A task whose state is not <c>TASK_RUNNING</c> sleeps until
    /// woken; a running one goes back on the run queue.
    /// </summary>
    internal void Schedule(string reason)
    {
        if (stopping)
            throw new TaskKilledException();
        var t = t_task!;
        var cpu = Cpus[t.Cpu];
        if ((cpu.PreemptCount & ~Kernel.PREEMPT_NEED_RESCHED) != 0)
            ReportSchedulingWhileAtomic(t, cpu);
        if ((cpu.PreemptCount & (Kernel.HARDIRQ_MASK | Kernel.SOFTIRQ_OFFSET | Kernel.NMI_MASK)) != 0)
        {
            // An interrupt handler, tasklet or timer cannot sleep: there is no task to put to sleep (on an
            // idle CPU it runs on the idle task, which would spin for ever). Linux oopses; here the
            // callback is killed and the machine goes on.
            t.Task.__state = Kernel.TASK_RUNNING;
            throw new KernelOopsException($"scheduling while atomic: {reason}() called in interrupt context");
        }
        if (t.IsIdle)
            return;
        if (t.Task.__state == Kernel.TASK_RUNNING)
        {
            if (runQueue.Count == 0)
                return;
            t.State = SimTaskState.Queued;
            runQueue.Add(t);
        }
        else
        {
            if (t.SignalPending && (t.Task.__state & Kernel.TASK_INTERRUPTIBLE) != 0)
            {
                t.Task.__state = Kernel.TASK_RUNNING;
                return;
            }
            t.State = SimTaskState.Blocked;
            t.BlockedIn = reason;
            if (Config.CaptureBlockedStacks)
                t.BlockedStack = new StackTrace(1, true);
            TraceEvent($"sleep {t.Comm}/{t.Pid} in {reason}");
        }
        var next = runQueue.Count > 0 ? DequeueRunnable() : cpu.Idle;
        ContextSwitch(cpu, t, next);
    }

    /// <summary><c>schedule_timeout</c>: sleeps until woken or until <paramref name="timeout"/> jiffies pass; returns the jiffies left.</summary>
    internal long ScheduleTimeout(long timeout, string reason)
    {
        var t = t_task!;
        if (timeout == Kernel.MAX_SCHEDULE_TIMEOUT)
        {
            Schedule(reason);
            return timeout;
        }
        if (timeout < 0)
        {
            t.Task.__state = Kernel.TASK_RUNNING;
            return 0;
        }
        ulong expire = jiffies + (ulong)timeout;
        t.WakeAt = expire;
        t.TimedOut = false;
        Schedule(reason);
        t.WakeAt = ulong.MaxValue;
        long left = (long)(expire - jiffies);
        return left < 0 ? 0 : left;
    }

    /// <summary><c>wake_up_process</c>/<c>try_to_wake_up</c>: a sleeping task becomes runnable.</summary>
    internal bool Wake(SimTask t, uint stateMask = Kernel.TASK_NORMAL)
    {
        if (t.State != SimTaskState.Blocked)
        {
            // Woken between set_current_state and schedule(): it must not sleep (the lost wake-up race).
            if (t.State == SimTaskState.OnCpu && (t.Task.__state & stateMask) != 0)
            {
                t.Task.__state = Kernel.TASK_RUNNING;
                return true;
            }
            return false;
        }
        if ((t.Task.__state & stateMask) == 0)
            return false;
        t.Task.__state = Kernel.TASK_RUNNING;
        t.State = SimTaskState.Queued;
        t.BlockedIn = null;
        t.BlockedStack = null;
        runQueue.Add(t);
        Attention();
        TraceEvent($"wake {t.Comm}/{t.Pid}");
        foreach (var c in Cpus)
        {
            if (c.Current.IsIdle)
            {
                c.NeedResched = true;
                break;
            }
        }
        return true;
    }

    /// <summary>Ends the running task: checks it left nothing held, wakes <c>kthread_stop</c>, runs something else.</summary>
    internal void ExitTask(SimTask t)
    {
        var cpu = Cpus[t.Cpu];
        CheckBalancedAtExit(t, cpu);
        t.Task.__state = Kernel.TASK_DEAD;
        t.Task.flags |= Kernel.PF_EXITING;
        TraceEvent($"exit {t.Comm}/{t.Pid} {t.ExitCode}");
        if (ReferenceEquals(t, initTask))
        {
            t.State = SimTaskState.Dead;
            Finish(RunOutcome.Completed);
            return;
        }
        foreach (var w in t.ExitWaiters.entries.ToArray())
        {
            if (w.task is not null)
                Wake(w.task.sim);
        }
        ExitMmHook?.Invoke(t);
        t.State = SimTaskState.Dead;
        var next = runQueue.Count > 0 ? DequeueRunnable() : cpu.Idle;
        ContextSwitch(cpu, t, next);
    }

    /// <summary>Called when a task exits, before it leaves its CPU (exit_mm).</summary>
    internal Action<SimTask>? ExitMmHook = Reference.AddressSpace.LazyTlb.ExitMm;

    private void CheckBalancedAtExit(SimTask t, Cpu cpu)
    {
        int pc = cpu.PreemptCount & ~Kernel.PREEMPT_NEED_RESCHED;
        if (pc != 0)
        {
            Report(ReportKind.PreemptCountLeak, $"note: {t.Comm}[{t.Pid}] exited with preempt_count {pc}",
                new[] { "A task must undo every preempt_disable(), get_cpu() and spin_lock() before it returns." });
            cpu.PreemptCount = 0;
        }
        if (!cpu.IrqsEnabled)
        {
            Report(ReportKind.IrqStateLeak, $"note: {t.Comm}[{t.Pid}] exited with irqs disabled",
                new[] { "A task must undo every local_irq_disable()/local_irq_save() before it returns." });
            cpu.IrqsEnabled = true;
        }
        if (t.HeldLocks.Count > 0)
        {
            var lines = new List<string> { $"{t.HeldLocks.Count} lock{(t.HeldLocks.Count == 1 ? "" : "s")} held by {t.Comm}/{t.Pid}:" };
            for (int i = 0; i < t.HeldLocks.Count; i++)
                lines.Add($" #{i}: ({t.HeldLocks[i].Lock.Name}){{{t.HeldLocks[i].Kind}}}, at: {t.HeldLocks[i].Site ?? "?"}");
            Report(ReportKind.LockHeldAtExit, $"BUG: {t.Comm}/{t.Pid} still has locks held!", lines);
            t.HeldLocks.Clear();
        }
        if (t.RcuDepth != 0)
        {
            Report(ReportKind.LockHeldAtExit, $"BUG: {t.Comm}/{t.Pid} exited inside an RCU read-side critical section (depth {t.RcuDepth})");
            t.RcuDepth = 0;
        }
    }

    /// <summary>The loop of a CPU's idle task: run what is runnable, let busy CPUs run, else let time pass.</summary>
    private void IdleLoop()
    {
        var self = t_task!;
        while (true)
        {
            if (stopping)
                throw new TaskKilledException();
            var cpu = Cpus[self.Cpu];
            cpu.NeedResched = false;
            if (runQueue.Count > 0)
            {
                var next = DequeueRunnable();
                TraceEvent($"idle {cpu.Id} runs {next.Comm}/{next.Pid}");
                ContextSwitch(cpu, self, next);
                continue;
            }
            if (cpu.SoftirqPending != 0)
            {
                Interrupts.DeliverTick(cpu);
                continue;
            }
            // Only lines that could be delivered count: a masked pending line waits for its unmask.
            if (Interrupts.AnyPending && cpu.IrqsEnabled && Interrupts.DeliverPending(cpu))
                continue;
            if (SwitchToAnotherCpu(self, preferBusy: false))
                continue;
            ulong next_event = NextEventJiffies();
            if (next_event == ulong.MaxValue)
            {
                ReportHungTasks();
                Finish(RunOutcome.Deadlocked);
                throw new TaskKilledException();
            }
            AdvanceClock(next_event > jiffies ? next_event : jiffies + 1);
        }
    }

    private ulong NextEventJiffies()
    {
        ulong next = Timers.NextExpiry;
        foreach (var t in tasks)
        {
            if (t.State == SimTaskState.Blocked && t.WakeAt < next)
                next = t.WakeAt;
        }
        return next;
    }

    /// <summary>Moves the clock to <paramref name="target"/>: ends timed sleeps and expires timers on the way.</summary>
    internal void AdvanceClock(ulong target)
    {
        while (jiffies < target)
        {
            jiffies++;
            foreach (var t in tasks)
            {
                if (t.State == SimTaskState.Blocked && t.WakeAt <= jiffies)
                {
                    t.TimedOut = true;
                    t.WakeAt = ulong.MaxValue;
                    Wake(t, uint.MaxValue);
                }
            }
            Timers.Expire(jiffies);
        }
    }

    private void ReportHungTasks()
    {
        var details = new List<string>();
        foreach (var t in tasks)
        {
            if (t.IsIdle || t.State != SimTaskState.Blocked)
                continue;
            details.Add($"INFO: task {t.Comm}:{t.Pid} blocked for more than 120 seconds.");
            details.Add($"task:{t.Comm,-15} state:{StateLetter(t.Task.__state)} pid:{t.Pid} blocked in {t.BlockedIn}");
            foreach (var frame in StackCapture.Frames(t.BlockedStack))
                details.Add("  " + frame);
            foreach (var held in t.HeldLocks)
                details.Add($"  holds ({held.Lock.Name}){{{held.Kind}}}, at: {held.Site ?? "?"}");
        }
        AddReport(new KernelReport
        {
            Kind = ReportKind.HungTask,
            Title = "INFO: every task is blocked: deadlock (the hung-task detector would fire after 120 seconds)",
            Details = details,
            Jiffies = jiffies,
        });
    }

    private static string StateLetter(uint state) => state switch
    {
        Kernel.TASK_RUNNING => "R",
        Kernel.TASK_INTERRUPTIBLE => "S",
        Kernel.TASK_UNINTERRUPTIBLE => "D",
        _ => $"0x{state:x}",
    };

    private void ReportSchedulingWhileAtomic(SimTask t, Cpu cpu)
    {
        Report(ReportKind.SchedulingWhileAtomic, $"BUG: scheduling while atomic: {t.Comm}/{t.Pid}/0x{cpu.PreemptCount:x8}");
    }

    /// <summary>The tasks of the machine that are alive (for tests and reports).</summary>
    public IEnumerable<task_struct> Tasks => tasks.Where(t => !t.IsIdle && t.IsAlive).Select(t => t.Task);
}

public sealed partial class Machine
{
    /// <summary>"BUG: spinlock lockup suspected": the lock is never released; the machine stops.</summary>
    internal void SpinLockup(KernelLockObject l)
    {
        var t = CurrentSim;
        var details = new List<string>
        {
            $" lock: {l.Name}, .owner: {l.owner?.Comm ?? "none"}/{l.owner?.Pid ?? -1}, .owner_cpu: {l.owner_cpu}",
        };
        AddHeldLocks(details, t);
        Report(ReportKind.SpinlockLockup, $"BUG: spinlock lockup suspected on CPU#{t.Cpu}, {t.Comm}/{t.Pid}", details);
        Finish(RunOutcome.Lockup);
        throw new TaskKilledException();
    }

    internal bool AnyOtherTaskInRcu(SimTask self)
    {
        foreach (var t in tasks)
        {
            if (!ReferenceEquals(t, self) && t.IsAlive && t.RcuDepth > 0)
                return true;
        }
        return false;
    }
}

public sealed partial class Machine
{
    /// <summary>True when a task waits on the run queue.</summary>
    internal bool HasRunnableTasks => runQueue.Count > 0;
}
