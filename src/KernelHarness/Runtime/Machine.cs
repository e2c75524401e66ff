using System;
using System.Collections.Generic;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using System.Threading;

namespace KernelHarness.Runtime;

/// <summary>How a run of a machine ended.</summary>
public enum RunOutcome
{
    /// <summary>The body returned (reports, if any, are in <see cref="Machine.Reports"/>).</summary>
    Completed,
    /// <summary>Every task was blocked with nothing left to wake them: reported as hung tasks.</summary>
    Deadlocked,
    /// <summary>A spinlock was never released: reported as a lockup.</summary>
    Lockup,
    /// <summary>The body was killed by a BUG (Oops).</summary>
    Oops,
    /// <summary>Code ran past the wall-clock limit without calling the kernel API.</summary>
    TimedOut,
}

/// <summary>
/// The simulated machine: CPUs with Linux's preempt count and interrupt flag, physical memory with
/// zones, tasks on a deterministic seeded scheduler, an interrupt controller, a clock, and the
/// bound subsystem implementations the <see cref="Kernel"/> facade dispatches to.
/// </summary>
/// <remarks>
/// Only one simulated CPU runs at a time, and tasks switch only at kernel API calls (the
/// interleaving points), so a run is a pure function of <see cref="MachineConfig.Seed"/>. When every
/// task is blocked the machine reports the deadlock instead of hanging.
/// </remarks>
public sealed partial class Machine
{
    [ThreadStatic] private static Machine? t_machine;
    [ThreadStatic] private static SimTask? t_task;

    private readonly List<SimTask> tasks = new();
    private readonly List<SimTask> runQueue = new();
    private readonly List<KernelReport> reports = new();
    private readonly List<string> trace = new();
    private readonly HashSet<string> reportedOnce = new(StringComparer.Ordinal);
    private readonly ManualResetEventSlim finished = new(false);
    private SeededRandom rng;
    private int nextPid = 1;
    private bool started;
    private volatile bool stopping;
    private SimTask? initTask;
    private ulong jiffies;
    private long calls;

    /// <summary>Builds a machine; call <see cref="Run(Action)"/> to boot it and run code on it.</summary>
    public Machine(MachineConfig? config = null)
    {
        Config = config ?? new MachineConfig();
        if (Config.Cpus < 1 || Config.Cpus > 64)
            throw new ArgumentOutOfRangeException(nameof(config), Config.Cpus, "A machine has 1 to 64 CPUs.");
        rng = new SeededRandom(Config.Seed);
        callsPerTick = Config.CallsPerTick;
        cpuSwitchPer1024 = Math.Clamp(Config.CpuSwitchPer1024, 0, 1024);
        eventPer1024 = Math.Min(cpuSwitchPer1024 + Math.Clamp(Config.PreemptPer1024, 0, 1024), 1024);
        eventGaps = EventGaps.For(eventPer1024);
        meanEventGap = eventPer1024 <= 0 ? long.MaxValue / 2 : Math.Max(1, (1024 + eventPer1024 / 2) / eventPer1024);
        nextEventAt = NextEventGap((uint)(rng.NextUInt64() >> 32));
        nextTickAt = callsPerTick;
        jiffies = Config.InitialJiffies;
        Log = new KernelLog(this);
        Cpus = new Cpu[Config.Cpus];
        for (int i = 0; i < Cpus.Length; i++)
            Cpus[i] = new Cpu(i, this);
        Memory = new PhysicalMemory(this);
        Checks = new MachineChecks(this);
        Interrupts = new InterruptController(this);
        Timers = new TimerQueue(this);
        OpenDeferredWorkSoftirqs();
        BindReferenceSubsystems();
    }

    /// <summary>The configuration the machine was built with.</summary>
    public MachineConfig Config { get; }

    /// <summary>The kernel log (<c>dmesg</c>).</summary>
    public KernelLog Log { get; }

    /// <summary>Every debug-kernel report so far, in order.</summary>
    public IReadOnlyList<KernelReport> Reports => reports;

    /// <summary>Scheduling events (when <see cref="MachineConfig.Trace"/> is on): the run's fingerprint.</summary>
    public IReadOnlyList<string> Trace => trace;

    /// <summary>How the run ended.</summary>
    public RunOutcome Outcome { get; private set; } = RunOutcome.Completed;

    /// <summary>Kernel API calls made so far.</summary>
    public long Calls => calls;

    internal Cpu[] Cpus { get; }
    internal PhysicalMemory Memory { get; }

    /// <summary>The run-time contract checks the facade calls (KASAN shadow, kmemleak, free checks).</summary>
    public MachineChecks Checks { get; }

    internal InterruptController Interrupts { get; }
    internal TimerQueue Timers { get; }

    /// <summary>The machine the calling code runs on.</summary>
    public static Machine Current => t_machine ?? throw NoMachine();

    /// <summary>The machine the calling code runs on, or null outside one.</summary>
    public static Machine? CurrentOrNull => t_machine;

    /// <summary>The task whose code is running (in interrupt context, the interrupted one).</summary>
    public task_struct CurrentTask => CurrentSim.Task;

    internal SimTask CurrentSim => t_task ?? throw NoMachine();

    internal Cpu CurrentCpu => Cpus[CurrentSim.Cpu];

    internal int CurrentCpuIdOrZero => t_task?.Cpu ?? 0;

    /// <summary>
    /// The task whose thread holds the baton (set by the thread itself when it gets the baton): the same
    /// task as <c>CurrentSim</c> on the running thread, reached without a thread-static lookup, for hot
    /// paths that already hold the machine (a slab cache's <c>raw_smp_processor_id()</c>).
    /// </summary>
    internal SimTask Running = null!;

    /// <summary>The CPU of <see cref="Running"/> (a running task never changes CPU).</summary>
    internal int RunningCpu;

    /// <summary>Objects given to <c>kfree_rcu</c> and not yet freed (library state of the slab helpers).</summary>
    internal Reference.Slab.SlabLibrary.Queue? KfreeRcuQueue;

    /// <summary>jiffies now.</summary>
    public ulong Jiffies => jiffies;

    internal ulong JiffiesRaw => jiffies;

    internal bool Stopping => stopping;

    private static InvalidOperationException NoMachine() => new(
        "The kernel API was called outside a simulated machine. Run kernel code inside Machine.Run(...) " +
        "(the conformance tests and the grader do this for you).");

    /// <summary>
    /// The entry of every dispatched kernel API call: an interleaving point where the seeded scheduler
    /// may deliver an interrupt, run another CPU, or preempt the caller.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Machine Enter(KernelFunctionId id)
    {
        var t = t_task;
        if (t is null)
            throw NoMachine();
        var m = t.Machine;
        m.Interleave(id, t);
        return m;
    }

    /// <summary>Builds a machine with <paramref name="config"/> and runs <paramref name="body"/> on it.</summary>
    public static Machine Run(MachineConfig config, Action body)
    {
        var m = new Machine(config);
        m.Run(body);
        return m;
    }

    /// <summary>Binds a subsystem implementation by its interface (a student's class, for instance).</summary>
    public Machine With<TSubsystem>(TSubsystem implementation) where TSubsystem : class
    {
        foreach (var info in Subsystems)
        {
            if (info.InterfaceType == typeof(TSubsystem))
            {
                Bind(info.Name, implementation);
                return this;
            }
        }
        throw new ArgumentException($"{typeof(TSubsystem).Name} is not a kernel subsystem interface.", nameof(TSubsystem));
    }

    /// <summary>
    /// Boots the machine (subsystem boot hooks run first, in the first task), then runs
    /// <paramref name="body"/> as that task ("insmod") and returns when it does, or when the machine
    /// deadlocks, locks up or runs past the wall-clock limit. Exceptions from the body are rethrown;
    /// kernel bugs are reports, not exceptions.
    /// </summary>
    public RunOutcome Run(Action body)
    {
        ArgumentNullException.ThrowIfNull(body);
        if (started)
            throw new InvalidOperationException("A machine runs once; build a new Machine for another run.");
        started = true;

        foreach (var cpu in Cpus)
        {
            var idle = NewTask($"swapper/{cpu.Id}", isIdle: true, pid: 0);
            idle.Entry = () => { IdleLoop(); return 0; };
            idle.Task.flags |= Kernel.PF_IDLE | Kernel.PF_KTHREAD;
            idle.Cpu = cpu.Id;
            idle.State = SimTaskState.OnCpu;
            cpu.Idle = idle;
            cpu.Current = idle;
        }

        var init = NewTask(Config.InitTaskName, isIdle: false);
        initTask = init;
        init.Entry = () =>
        {
            RunBootHooks();
            body();
            return 0;
        };
        var cpu0 = Cpus[0];
        cpu0.Current = init;
        init.Cpu = 0;
        init.State = SimTaskState.OnCpu;
        cpu0.Idle.State = SimTaskState.Queued; // the idle task is never on the run queue; it waits for its CPU to go idle

        foreach (var t in tasks)
            t.StartThread();
        TraceEvent("boot");
        init.Resume();

        if (!finished.Wait(Config.WallClockLimit))
        {
            Outcome = RunOutcome.TimedOut;
            AddReport(new KernelReport
            {
                Kind = ReportKind.Oops,
                Title = $"watchdog: BUG: soft lockup - CPU#{CurrentCpuIdOrZero} stuck for {Config.WallClockLimit.TotalSeconds:0}s!",
                Details = new[] { "The code ran without calling the kernel API, so nothing could preempt it (an infinite loop?)." },
            });
        }
        Teardown();

        if (init.Failure is not null && init.Failure is not KernelOopsException && Outcome == RunOutcome.Completed)
            ExceptionDispatchInfo.Capture(init.Failure).Throw();
        return Outcome;
    }

    internal SimTask NewTask(string comm, bool isIdle, int? pid = null)
    {
        if (comm.Length > Kernel.TASK_COMM_LEN - 1)
            comm = comm[..(Kernel.TASK_COMM_LEN - 1)];
        var t = new SimTask(this, pid ?? nextPid++, comm, isIdle);
        tasks.Add(t);
        return t;
    }

    /// <summary>Creates a task that will run <paramref name="entry"/> once scheduled (kthread_run).</summary>
    internal SimTask SpawnTask(string comm, Func<int> entry, bool kernelThread)
    {
        var t = NewTask(comm, isIdle: false);
        t.Entry = entry;
        t.Task.parent = CurrentSim.Task;
        if (kernelThread)
            t.Task.flags |= Kernel.PF_KTHREAD;
        t.Cpu = CurrentSim.Cpu;
        t.StartThread();
        t.State = SimTaskState.Queued;
        runQueue.Add(t);
        TraceEvent($"spawn {t.Comm}/{t.Pid}");
        return t;
    }

    internal void AttachThread(SimTask t)
    {
        t_machine = this;
        t_task = t;
    }

    internal void RunTaskBody(SimTask t)
    {
        try
        {
            t.ExitCode = t.Entry!();
        }
        catch (TaskKilledException)
        {
            TaskThreadEnded(t);
            return;
        }
        catch (KernelOopsException ex)
        {
            t.Failure = ex;
        }
        catch (Exception ex) when (t != initTask)
        {
            t.Failure = ex;
            ReportOops(t, ex);
        }
        catch (Exception ex)
        {
            t.Failure = ex;
        }

        try
        {
            ExitTask(t);
        }
        catch (TaskKilledException)
        {
        }
        TaskThreadEnded(t);
    }

    internal void TaskThreadEnded(SimTask t)
    {
        t.State = SimTaskState.Dead;
    }

    /// <summary>Stops the machine: the finishing thread unwinds, parked task threads are killed.</summary>
    internal void Finish(RunOutcome outcome)
    {
        if (stopping)
            return;
        if (outcome != RunOutcome.Completed)
            Outcome = outcome;
        stopping = true;
        Attention();
        TraceEvent($"halt {outcome}");
        finished.Set();
    }

    private void Teardown()
    {
        stopping = true;
        Attention();
        var current = t_task;
        foreach (var t in tasks)
        {
            if (t.State == SimTaskState.Dead || ReferenceEquals(t, current))
                continue;
            t.KillRequested = true;
            t.Resume();
        }
        foreach (var t in tasks)
            t.Join(TimeSpan.FromSeconds(2));
    }

    private void ReportOops(SimTask t, Exception ex)
    {
        var frames = StackCapture.FromException(ex);
        AddReport(new KernelReport
        {
            Kind = ReportKind.Oops,
            Title = $"Oops: unhandled {ex.GetType().Name} in task {t.Comm}/{t.Pid}: {ex.Message}",
            Details = new[] { $"CPU: {t.Cpu} PID: {t.Pid} Comm: {t.Comm}" },
            Pid = t.Pid,
            Comm = t.Comm,
            Cpu = t.Cpu,
            Jiffies = jiffies,
            Location = StackCapture.FirstUserLocation(frames),
            CallTrace = frames,
        });
    }

    internal void TraceEvent(string what)
    {
        if (Config.Trace)
            trace.Add($"{calls}:{jiffies - Config.InitialJiffies}:{what}");
    }

    internal void AddReport(KernelReport report)
    {
        reports.Add(report);
        Log.Append(3, report.Render());
        TraceEvent($"report {report.Kind}");
    }

    /// <summary>Adds a report unless one with the same key was already made (Linux's WARN_ONCE / ratelimit, made deterministic).</summary>
    internal bool ReportOnce(string key) => reportedOnce.Add(key);

    internal SeededRandom Random => rng;

    internal IReadOnlyList<SimTask> AllTasks => tasks;
}
