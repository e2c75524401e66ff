using System;
using System.Threading;
using KernelHarness.Runtime;

namespace KernelHarness;

/// <summary>
/// A per-CPU variable (<c>DEFINE_PER_CPU</c>): each CPU of a machine has its own copy, initialised from
/// <see cref="initial"/>. The handle is usually a <c>static readonly</c> field, created before any machine
/// exists and used by many machines (tests) in turn, so the copies live with each machine.
/// </summary>
public sealed class percpu<T>
{
    public percpu(T initial) => this.initial = initial;

    /// <summary>The static initializer every CPU's copy starts from.</summary>
    public readonly T initial;

    // The last machine's storage: a fast path for the common case of one machine at a time.
    private Storage? last;

    private sealed class Storage
    {
        public Storage(Machine owner, T[] values)
        {
            Owner = owner;
            Values = values;
        }

        public readonly Machine Owner;
        public readonly T[] Values;
    }

    /// <summary>The copies on <paramref name="machine"/>, one per CPU (raw: no preemption check).</summary>
    internal T[] values_on(Machine machine)
    {
        var s = Volatile.Read(ref last);
        if (s is not null && ReferenceEquals(s.Owner, machine))
            return s.Values;
        var values = machine.PerCpuArea(this);
        Volatile.Write(ref last, new Storage(machine, values));
        return values;
    }

    internal T[] create_copies(int cpus)
    {
        var values = new T[cpus];
        for (int i = 0; i < cpus; i++)
            values[i] = initial;
        return values;
    }
}
