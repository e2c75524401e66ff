using System;
using System.Diagnostics;
using System.Threading;

namespace KernelHarness.Runtime;

/// <summary>Where a simulated task is in its life.</summary>
internal enum SimTaskState
{
    /// <summary>Created, never run.</summary>
    New,
    /// <summary>On a CPU (the one running now, or current on another CPU).</summary>
    OnCpu,
    /// <summary>Runnable, waiting on the run queue.</summary>
    Queued,
    /// <summary>Sleeping until woken (or its timeout passes).</summary>
    Blocked,
    /// <summary>Finished.</summary>
    Dead,
}

/// <summary>Thrown inside a task's thread to unwind it when the machine stops or kills it.</summary>
internal sealed class TaskKilledException : Exception
{
    public TaskKilledException() : base("the simulated task was killed") { }
}

/// <summary>
/// The runtime side of a <see cref="task_struct"/>: a dedicated OS thread that runs only while it
/// holds the machine's baton. Switching tasks hands the baton over: exactly one task thread of a
/// machine executes at any time, so a run is a pure function of the seed.
/// </summary>
internal sealed class SimTask
{
    private readonly BatonGate gate = new();
    private Thread? thread;

    public SimTask(Machine machine, int pid, string comm, bool isIdle)
    {
        Machine = machine;
        Task = new task_struct(pid, comm, this);
        IsIdle = isIdle;
    }

    public readonly Machine Machine;
    public readonly task_struct Task;
    public readonly bool IsIdle;

    public SimTaskState State = SimTaskState.New;

    /// <summary>The CPU it is on (or last ran on).</summary>
    public int Cpu;

    /// <summary>What the task runs; its return value is the exit code.</summary>
    public Func<int>? Entry;

    public int ExitCode;
    public Exception? Failure;

    /// <summary>The preempt count and interrupt flag saved at switch-out (Linux keeps them per task across schedule()).</summary>
    public int SavedPreemptCount;
    public bool SavedIrqsEnabled = true;

    /// <summary>Set to make the task unwind at its next kernel API call or wake-up.</summary>
    public volatile bool KillRequested;

    /// <summary><c>kthread_stop</c> was called on it.</summary>
    public bool ShouldStop;

    /// <summary>A signal is pending (interrupts interruptible sleeps).</summary>
    public bool SignalPending;

    /// <summary>The jiffy at which a timed sleep ends, or <see cref="ulong.MaxValue"/>.</summary>
    public ulong WakeAt = ulong.MaxValue;

    /// <summary>Set when a timed sleep ended by its timeout.</summary>
    public bool TimedOut;

    /// <summary>What it is blocked in, for hung-task reports.</summary>
    public string? BlockedIn;
    public StackTrace? BlockedStack;

    /// <summary>Tasks waiting for this one to exit (<c>kthread_stop</c>).</summary>
    public readonly wait_queue_head_t ExitWaiters = new();

    /// <summary>Locks held, innermost last (lockdep's held_locks).</summary>
    public readonly System.Collections.Generic.List<HeldLock> HeldLocks = new();

    /// <summary>The innermost entry for <paramref name="l"/> in <see cref="HeldLocks"/>, or -1 (a loop: no closure on the lock hot path).</summary>
    public int IndexOfHeld(KernelLockObject l)
    {
        for (int i = HeldLocks.Count - 1; i >= 0; i--)
        {
            if (ReferenceEquals(HeldLocks[i].Lock, l))
                return i;
        }
        return -1;
    }

    /// <summary>RCU read-side nesting depth.</summary>
    public int RcuDepth;

    /// <summary>Outermost <c>rcu_read_unlock()</c>s so far: a grace period that waits for this task is over once it moves.</summary>
    public long RcuExits;

    public int Pid => Task.pid;
    public string Comm => Task.comm;

    public bool IsAlive => State != SimTaskState.Dead;

    /// <summary>Starts the thread, parked until the baton is handed to it.</summary>
    public void StartThread()
    {
        thread = new Thread(ThreadMain, 16 * 1024 * 1024)
        {
            IsBackground = true,
            Name = $"kh:{Comm}/{Pid}",
        };
        thread.Start();
    }

    private void ThreadMain()
    {
        gate.Wait();
        Machine.AttachThread(this);
        Machine.Running = this;
        Machine.RunningCpu = Cpu;
        Machine.Attention();
        if (KillRequested)
        {
            Machine.TaskThreadEnded(this);
            return;
        }
        Machine.RunTaskBody(this);
    }

    /// <summary>Wakes this task's thread: it now holds the baton (a second release before it wakes is absorbed).</summary>
    public void Resume() => gate.Release();

    /// <summary>Parks the calling thread (this task's) until <see cref="Resume"/>.</summary>
    public void Park()
    {
        gate.Wait();
        Machine.Running = this;
        Machine.RunningCpu = Cpu;
        Machine.Attention();
        if (KillRequested)
            throw new TaskKilledException();
    }

    /// <summary>Waits for the thread to end, for teardown.</summary>
    public bool Join(TimeSpan timeout) => thread is null || thread.Join(timeout);

    public override string ToString() => $"{Comm}/{Pid} ({State}, cpu {Cpu})";
}

/// <summary>A lock a task holds, for lockdep and the exit checks.</summary>
internal readonly record struct HeldLock(KernelLockObject Lock, LockKind Kind, string? Site, bool IrqsWereEnabled)
{
    /// <summary>Mutexes, semaphores and rw_semaphores (incl. mmap_lock): held, they do not make the context atomic.</summary>
    public static bool IsSleepingKind(LockKind kind) =>
        kind is LockKind.Mutex or LockKind.Semaphore or LockKind.MmapRead or LockKind.MmapWrite or LockKind.RwSemRead or LockKind.RwSemWrite;
}

/// <summary>
/// The baton a parked task thread waits on. It blocks without spinning: a parked thread must not
/// burn a core while another task of its machine (or another machine, in a parallel grading) runs.
/// </summary>
internal sealed class BatonGate
{
    private readonly object sync = new();
    private bool signaled;

    /// <summary>Lets the waiting thread run (once); a second release before it wakes is absorbed.</summary>
    public void Release()
    {
        lock (sync)
        {
            signaled = true;
            Monitor.Pulse(sync);
        }
    }

    /// <summary>Blocks until released, then consumes the release.</summary>
    public void Wait()
    {
        lock (sync)
        {
            while (!signaled)
                Monitor.Wait(sync);
            signaled = false;
        }
    }
}
