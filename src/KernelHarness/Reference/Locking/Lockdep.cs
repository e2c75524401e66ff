using System;
using System.Collections.Generic;
using KernelHarness.Runtime;

namespace KernelHarness.Reference.Locking;

/// <summary>
/// lockdep (kernel/locking/lockdep.c), reduced to what a course needs: lock classes (one per init
/// site), the dependency graph of acquisition order, and reports of an AB-BA inversion (with both
/// chains), recursive acquisition, and a lock taken in hard-IRQ context that is also taken elsewhere
/// with interrupts enabled. Like lockdep it finds these from one run in which the two orders happened
/// at different times, not only when the deadlock actually occurs.
/// </summary>
internal sealed class Lockdep
{
    private readonly Machine machine;
    private readonly Dictionary<string, LockClass> classes = new(StringComparer.Ordinal);
    private readonly HashSet<(string, string)> reportedInversions = new();
    private bool disabled;

    public Lockdep(Machine machine) => this.machine = machine;

    private sealed class LockClass
    {
        public LockClass(string key, string name)
        {
            Key = key;
            Name = name;
        }

        public readonly string Key;
        public readonly string Name;

        /// <summary>Classes acquired while this one was held, with where the dependency was first seen.</summary>
        public readonly Dictionary<LockClass, string> After = new();

        public string? UsedInHardIrq;
        public string? EnabledHardIrq;
        public string? UsedInSoftIrq;
        public string? EnabledSoftIrq;
    }

    private LockClass ClassOf(KernelLockObject l)
    {
        if (!classes.TryGetValue(l.ClassKey, out var c))
        {
            c = new LockClass(l.ClassKey, l.Name);
            classes[l.ClassKey] = c;
        }
        return c;
    }

    /// <summary>Validates an acquisition before it happens (<c>lock_acquire</c>).</summary>
    public void Acquire(SimTask t, Cpu cpu, KernelLockObject l, LockKind kind, string? site, bool trylock, bool read)
    {
        if (disabled || !machine.Config.Lockdep)
            return;
        var cls = ClassOf(l);
        string where = site ?? "?";

        // Recursive locking: the same lock (or class, for exclusive locks) already held by this task.
        foreach (var held in t.HeldLocks)
        {
            if (ReferenceEquals(held.Lock, l) && !(read && IsRecursiveReadKind(held.Kind) && IsRecursiveReadKind(kind)) && !trylock)
            {
                var details = new List<string>
                {
                    "============================================",
                    "WARNING: possible recursive locking detected",
                    "--------------------------------------------",
                    $"{t.Comm}/{t.Pid} is trying to acquire lock:",
                    $"  ({l.Name}){{{kind}}}, at: {where}",
                    "but task is already holding lock:",
                    $"  ({held.Lock.Name}){{{held.Kind}}}, at: {held.Site ?? "?"}",
                    "*** DEADLOCK ***",
                };
                machine.Report(ReportKind.LockdepRecursiveLocking, "WARNING: possible recursive locking detected", details, "lock_acquire");
                disabled = true; // lockdep turns itself off after its first splat
                return;
            }
        }

        // Interrupt-state consistency ({IN-HARDIRQ-W} vs {HARDIRQ-ON-W}).
        bool spinning = !HeldLock.IsSleepingKind(kind);
        if (spinning)
        {
            bool inHardIrq = (cpu.PreemptCount & Kernel.HARDIRQ_MASK) != 0;
            bool inSoftIrq = (cpu.PreemptCount & Kernel.SOFTIRQ_OFFSET) != 0;
            if (inHardIrq)
                cls.UsedInHardIrq ??= where;
            else if (cpu.IrqsEnabled && !IsIrqDisablingKind(kind))
                cls.EnabledHardIrq ??= where;
            if (inSoftIrq)
                cls.UsedInSoftIrq ??= where;
            else if ((cpu.PreemptCount & Kernel.SOFTIRQ_MASK) == 0 && !IsBhDisablingKind(kind) && !IsIrqDisablingKind(kind) && cpu.IrqsEnabled)
                cls.EnabledSoftIrq ??= where;
            if (cls.UsedInHardIrq is not null && cls.EnabledHardIrq is not null)
            {
                ReportInconsistent(t, l, "IN-HARDIRQ-W", cls.UsedInHardIrq, "HARDIRQ-ON-W", cls.EnabledHardIrq);
                return;
            }
            if (cls.UsedInSoftIrq is not null && cls.EnabledSoftIrq is not null)
            {
                ReportInconsistent(t, l, "IN-SOFTIRQ-W", cls.UsedInSoftIrq, "SOFTIRQ-ON-W", cls.EnabledSoftIrq);
                return;
            }
        }

        // Dependencies: every held class -> this class; a path back means an inversion. A trylock cannot wait, so
        // it neither closes a cycle nor adds a dependency (lockdep's validate_chain skips it): recorded, its
        // reverse order would hide a later blocking acquisition in that order.
        if (trylock)
            return;
        foreach (var held in t.HeldLocks)
        {
            var prev = ClassOf(held.Lock);
            if (ReferenceEquals(prev, cls) || prev.After.ContainsKey(cls))
                continue;
            var back = FindPath(cls, prev);
            if (back is not null)
            {
                ReportCircular(t, l, where, held, back);
                return;
            }
            prev.After[cls] = where;
        }
    }

    /// <summary>
    /// A reader that may nest in another read hold of the same lock: an rwlock_t's (read=2 in lockdep). An
    /// rw_semaphore's read hold is not (read=1): a writer queued between the two would wait for the first and the
    /// second for the writer.
    /// </summary>
    private static bool IsRecursiveReadKind(LockKind k) => k is LockKind.ReadLock or LockKind.ReadLockIrq or LockKind.ReadLockIrqSave or LockKind.ReadLockBh;

    private static bool IsIrqDisablingKind(LockKind k) => k is LockKind.SpinIrq or LockKind.SpinIrqSave or LockKind.ReadLockIrq
        or LockKind.ReadLockIrqSave or LockKind.WriteLockIrq or LockKind.WriteLockIrqSave;

    private static bool IsBhDisablingKind(LockKind k) => k is LockKind.SpinBh or LockKind.ReadLockBh or LockKind.WriteLockBh;

    private static List<LockClass>? FindPath(LockClass from, LockClass to)
    {
        var seen = new HashSet<LockClass>();
        var path = new List<LockClass>();
        bool Dfs(LockClass c)
        {
            if (!seen.Add(c))
                return false;
            path.Add(c);
            if (ReferenceEquals(c, to))
                return true;
            foreach (var next in c.After.Keys)
            {
                if (Dfs(next))
                    return true;
            }
            path.RemoveAt(path.Count - 1);
            return false;
        }
        return Dfs(from) ? path : null;
    }

    private void ReportCircular(SimTask t, KernelLockObject l, string where, HeldLock held, List<LockClass> back)
    {
        var key = (ClassOf(held.Lock).Key, ClassOf(l).Key);
        if (!reportedInversions.Add(key))
            return;
        var details = new List<string>
        {
            "======================================================",
            "WARNING: possible circular locking dependency detected",
            "------------------------------------------------------",
            $"{t.Comm}/{t.Pid} is trying to acquire lock:",
            $"  ({l.Name}), at: {where}",
            "but task is already holding lock:",
            $"  ({held.Lock.Name}), at: {held.Site ?? "?"}",
            "which lock already depends on the new lock.",
            "the existing dependency chain (in reverse order) is:",
        };
        for (int i = 0; i + 1 < back.Count; i++)
            details.Add($"-> #{i} ({back[i + 1].Name}) taken while holding ({back[i].Name}), at: {back[i].After[back[i + 1]]}");
        details.Add(" Possible unsafe locking scenario:");
        details.Add("       CPU0                    CPU1");
        details.Add("       ----                    ----");
        details.Add($"  lock({held.Lock.Name});");
        details.Add($"                               lock({l.Name});");
        details.Add($"                               lock({held.Lock.Name});");
        details.Add($"  lock({l.Name});");
        details.Add(" *** DEADLOCK ***");
        machine.Report(ReportKind.LockdepCircularDependency, "WARNING: possible circular locking dependency detected", details, "lock_acquire");
    }

    private void ReportInconsistent(SimTask t, KernelLockObject l, string usedIn, string usedAt, string enabled, string enabledAt)
    {
        var details = new List<string>
        {
            "================================",
            "WARNING: inconsistent lock state",
            "--------------------------------",
            $"inconsistent {{{usedIn}}} -> {{{enabled}}} usage.",
            $"{t.Comm}/{t.Pid} takes ({l.Name}):",
            $"  {{{usedIn}}} state was registered at: {usedAt}",
            $"  {{{enabled}}} state was registered at: {enabledAt}",
            " Possible unsafe locking scenario:",
            "       CPU0",
            "       ----",
            $"  lock({l.Name});",
            "  <Interrupt>",
            $"    lock({l.Name});",
            " *** DEADLOCK ***",
            "Take the lock with spin_lock_irqsave() (or spin_lock_bh() for softirqs) outside the handler.",
        };
        machine.Report(ReportKind.LockdepInconsistentState, "WARNING: inconsistent lock state", details, "lock_acquire");
        disabled = true;
    }

    /// <summary>A release of a lock the task does not hold ("bad unlock balance detected").</summary>
    public void BadUnlock(SimTask t, KernelLockObject l, string? site)
    {
        var details = new List<string>
        {
            "=====================================",
            "WARNING: bad unlock balance detected!",
            "-------------------------------------",
            $"{t.Comm}/{t.Pid} is trying to release lock ({l.Name}) at:",
            $"  {site ?? "?"}",
            "but there are no more locks to release!",
        };
        Machine.AddHeldLocks(details, t);
        machine.Report(ReportKind.LockdepBadUnlock, "WARNING: bad unlock balance detected!", details, "lock_release");
    }
}
