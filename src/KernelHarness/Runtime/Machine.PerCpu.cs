using System.Runtime.CompilerServices;

namespace KernelHarness.Runtime;

// The per-CPU area: each percpu<T> gets its copies on this machine the first time it is used here.
public sealed partial class Machine
{
    private readonly ConditionalWeakTable<object, object> perCpuArea = new();

    internal T[] PerCpuArea<T>(percpu<T> v)
    {
        lock (perCpuArea)
        {
            if (perCpuArea.TryGetValue(v, out var existing))
                return (T[])existing;
            var values = v.create_copies(Cpus.Length);
            perCpuArea.Add(v, values);
            return values;
        }
    }
}
