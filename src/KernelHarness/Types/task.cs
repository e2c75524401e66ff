using System;
using KernelHarness.Runtime;

namespace KernelHarness;

/// <summary>The scheduling entity of CFS (<c>struct sched_entity</c>).</summary>
public sealed class sched_entity
{
    /// <summary>Virtual runtime in nanoseconds.</summary>
    public ulong vruntime;

    /// <summary>Total runtime in nanoseconds.</summary>
    public ulong sum_exec_runtime;
}

/// <summary>
/// A task (<c>struct task_struct</c>, include/linux/sched.h): a kernel thread (<c>mm == null</c>,
/// <c>PF_KTHREAD</c>) or a user task with an address space.
/// </summary>
public sealed class task_struct
{
    internal task_struct(int pid, string comm, SimTask sim)
    {
        this.pid = pid;
        this.comm = comm;
        this.sim = sim;
    }

    /// <summary>The process id.</summary>
    public readonly int pid;

    /// <summary>The command name (<c>TASK_COMM_LEN</c> 16, truncated as Linux does).</summary>
    public string comm;

    /// <summary>The address space, or null for a kernel thread.</summary>
    public mm_struct? mm;

    /// <summary>The address space in use: a kernel thread borrows the previous task's (lazy TLB).</summary>
    public mm_struct? active_mm;

    /// <summary>The task state (<c>TASK_RUNNING</c>, <c>TASK_INTERRUPTIBLE</c>, …).</summary>
    public uint __state;

    /// <summary>Per-process flags (<c>PF_KTHREAD</c>, …).</summary>
    public uint flags;

    /// <summary>The parent task.</summary>
    public task_struct? parent;

    /// <summary>CFS scheduling entity.</summary>
    public readonly sched_entity se = new();

    /// <summary>The CPU the task last ran on.</summary>
    public int cpu;

    internal readonly SimTask sim;

    public override string ToString() => $"{comm}/{pid}";
}
