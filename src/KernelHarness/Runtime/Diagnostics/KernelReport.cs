using System;
using System.Collections.Generic;

namespace KernelHarness.Runtime;

/// <summary>What a debug-kernel report is about.</summary>
public enum ReportKind
{
    /// <summary>"BUG: sleeping function called from invalid context" (CONFIG_DEBUG_ATOMIC_SLEEP).</summary>
    SleepInAtomic,
    /// <summary>"BUG: scheduling while atomic".</summary>
    SchedulingWhileAtomic,
    /// <summary>"BUG: using smp_processor_id() in preemptible code" (CONFIG_DEBUG_PREEMPT).</summary>
    SmpProcessorIdPreemptible,
    /// <summary>A task, handler or deferred callback returned with the preempt count changed.</summary>
    PreemptCountLeak,
    /// <summary>A task, handler or deferred callback returned with the interrupt state changed.</summary>
    IrqStateLeak,
    /// <summary>A task returned or a handler ended with locks held.</summary>
    LockHeldAtExit,
    /// <summary>"INFO: task … blocked for more than 120 seconds": every task is blocked (deadlock).</summary>
    HungTask,
    /// <summary>"BUG: spinlock lockup suspected".</summary>
    SpinlockLockup,
    /// <summary>lockdep: "possible circular locking dependency detected".</summary>
    LockdepCircularDependency,
    /// <summary>lockdep: "possible recursive locking detected".</summary>
    LockdepRecursiveLocking,
    /// <summary>lockdep: "inconsistent lock state" ({IN-HARDIRQ-W} -> {HARDIRQ-ON-W}).</summary>
    LockdepInconsistentState,
    /// <summary>lockdep: "bad unlock balance detected".</summary>
    LockdepBadUnlock,
    /// <summary>KASAN: slab-use-after-free / use-after-free.</summary>
    KasanUseAfterFree,
    /// <summary>KASAN: slab-out-of-bounds / out-of-bounds (including red zones).</summary>
    KasanOutOfBounds,
    /// <summary>KASAN: double-free.</summary>
    KasanDoubleFree,
    /// <summary>KASAN: invalid-free.</summary>
    KasanInvalidFree,
    /// <summary>KASAN: wild-memory-access / null-ptr-deref.</summary>
    KasanWildAccess,
    /// <summary>kmemleak: "unreferenced object".</summary>
    Kmemleak,
    /// <summary>"kmem_cache_destroy …: Slab cache still has objects".</summary>
    SlabCacheBusy,
    /// <summary>"Bad page state".</summary>
    BadPageState,
    /// <summary>A slab consistency error (mm/slub.c slab_err/object_err).</summary>
    SlabCorruption,
    /// <summary>"irq N: nobody cared".</summary>
    IrqNobodyCared,
    /// <summary>A WARN from the IRQ core ("Unbalanced enable for IRQ N", "Trying to free already-free IRQ N").</summary>
    IrqWarning,
    /// <summary>A WARN_ON / WARN.</summary>
    Warning,
    /// <summary>A BUG_ON or an exception escaping kernel code: the task is killed ("Oops").</summary>
    Oops,
    /// <summary>A contract the facade checks at run time was broken by a subsystem implementation.</summary>
    ContractViolation,
}

/// <summary>
/// One debug-kernel report: a structured event tests and the grader read, also printed in the kernel
/// log in Linux's wording.
/// </summary>
public sealed record KernelReport
{
    public required ReportKind Kind { get; init; }

    /// <summary>The first line, in Linux's words ("BUG: sleeping function called from invalid context at Driver.cs:41").</summary>
    public required string Title { get; init; }

    /// <summary>The following lines (state, locks held, allocation and free stacks).</summary>
    public IReadOnlyList<string> Details { get; init; } = Array.Empty<string>();

    /// <summary>The current task's pid and name.</summary>
    public int Pid { get; init; }
    public string Comm { get; init; } = "";

    /// <summary>The CPU the report was made on.</summary>
    public int Cpu { get; init; }

    /// <summary>jiffies when reported.</summary>
    public ulong Jiffies { get; init; }

    /// <summary>The first call site outside the harness (student code), as FILE:LINE, when known.</summary>
    public string? Location { get; init; }

    /// <summary>The C# call trace, innermost first, harness frames removed.</summary>
    public IReadOnlyList<string> CallTrace { get; init; } = Array.Empty<string>();

    /// <summary>The kernel function that reported (e.g. <c>mutex_lock</c>), when any.</summary>
    public string? Function { get; init; }

    /// <summary>The report as the kernel log shows it.</summary>
    public string Render()
    {
        var sb = new System.Text.StringBuilder();
        sb.Append(Title).Append('\n');
        foreach (var line in Details)
            sb.Append(line).Append('\n');
        if (CallTrace.Count > 0)
        {
            sb.Append("Call Trace:\n");
            foreach (var frame in CallTrace)
                sb.Append(' ').Append(frame).Append('\n');
        }
        return sb.ToString();
    }

    public override string ToString() => Title;
}
