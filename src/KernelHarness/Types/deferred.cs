using System;

namespace KernelHarness;

/// <summary>A tasklet (<c>struct tasklet_struct</c>): runs its callback once, later, in softirq context.</summary>
public sealed class tasklet_struct
{
    /// <summary>The callback given to <c>tasklet_setup</c>.</summary>
    public Action<tasklet_struct>? callback;

    /// <summary>Scheduled and not yet run (TASKLET_STATE_SCHED).</summary>
    public bool scheduled;

    /// <summary>Running on some CPU now (TASKLET_STATE_RUN).</summary>
    public bool running;

    /// <summary>Disable depth (<c>tasklet_disable</c>).</summary>
    public int count;

    /// <summary>The CPU whose list it is queued on.</summary>
    public int cpu = -1;

    /// <summary>Killed: will not be scheduled again until set up anew.</summary>
    internal bool killed;
}

/// <summary>A timer (<c>struct timer_list</c>): its function runs in softirq context when <c>jiffies</c> reaches <see cref="expires"/>.</summary>
public sealed class timer_list
{
    /// <summary>When the timer fires, in jiffies.</summary>
    public ulong expires;

    /// <summary>The callback given to <c>timer_setup</c>.</summary>
    public Action<timer_list>? function;

    /// <summary>Timer flags (<c>TIMER_*</c>).</summary>
    public uint flags;

    /// <summary>Queued and not yet fired.</summary>
    public bool pending;

    /// <summary>Running its function now.</summary>
    public bool running;

    internal long sequence;
    internal int cpu;
}

/// <summary>A work item (<c>struct work_struct</c>): its function runs in process context on a worker thread.</summary>
public sealed class work_struct
{
    /// <summary>The callback given to <c>INIT_WORK</c>.</summary>
    public Action<work_struct>? func;

    /// <summary>Queued and not yet started (WORK_STRUCT_PENDING).</summary>
    public bool pending;

    /// <summary>Running now on a worker.</summary>
    public bool running;

    internal workqueue_struct? wq;
    internal long generation;
}

/// <summary>A workqueue (<c>struct workqueue_struct</c>).</summary>
public sealed class workqueue_struct
{
    public workqueue_struct(string name, uint flags, int max_active)
    {
        this.name = name;
        this.flags = flags;
        this.max_active = max_active;
    }

    public readonly string name;
    public readonly uint flags;
    public readonly int max_active;

    internal readonly System.Collections.Generic.Queue<work_struct> queue = new();
    internal task_struct? worker;
    internal int active;
    internal bool destroyed;

    public override string ToString() => name;
}
