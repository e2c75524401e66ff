using KernelHarness.Runtime;
using KernelHarness.Tests.Infrastructure;
using Xunit;
using static KernelHarness.Kernel;

namespace KernelHarness.Tests.Reference.CpuState;

public class PerCpuTests
{
    private static readonly percpu<long> counter = DEFINE_PER_CPU<long>(5);

    [Fact]
    public void Every_cpu_copy_starts_from_the_static_initializer()
    {
        var values = new long[4];
        Sim.Run(() =>
        {
            for (int cpu = 0; cpu < 4; cpu++)
                values[cpu] = per_cpu(counter, cpu);
        });
        Assert.All(values, v => Assert.Equal(5, v));
    }

    [Fact]
    public void A_write_to_one_cpus_copy_is_not_visible_in_another()
    {
        long c0 = 0, c1 = 0;
        var v = DEFINE_PER_CPU<long>();
        Sim.Run(() =>
        {
            per_cpu(v, 0) = 42;
            c0 = per_cpu(v, 0);
            c1 = per_cpu(v, 1);
        });
        Assert.Equal(42, c0);
        Assert.Equal(0, c1);
    }

    [Fact]
    public void Get_cpu_disables_preemption_returns_a_stable_id_and_nests()
    {
        int id = -1, again = -2, pc1 = 0, pc2 = 0, after = -1;
        var m = Sim.Run(() =>
        {
            id = get_cpu();
            pc1 = preempt_count();
            for (int i = 0; i < 500; i++)
                cpu_relax(); // other CPUs run, but this task cannot migrate
            again = get_cpu();
            pc2 = preempt_count();
            int same = smp_processor_id();
            Assert.Equal(id, same);
            put_cpu();
            put_cpu();
            after = preempt_count();
        });
        Assert.Equal(id, again);
        Assert.Equal(1, pc1);
        Assert.Equal(2, pc2);
        Assert.Equal(0, after);
        Sim.NoReports(m);
    }

    [Fact]
    public void Get_cpu_var_returns_this_cpus_copy_with_preemption_disabled()
    {
        var v = DEFINE_PER_CPU<long>();
        int cpu = -1, pc = 0;
        long mine = 0;
        var m = Sim.Run(() =>
        {
            ref long x = ref get_cpu_var(v);
            x += 3;
            pc = preempt_count();
            cpu = smp_processor_id();
            put_cpu_var(v);
            mine = per_cpu(v, cpu);
        });
        Assert.Equal(1, pc);
        Assert.Equal(3, mine);
        Sim.NoReports(m);
    }

    [Fact]
    public void This_cpu_operations_update_the_local_copy_without_a_preemption_report()
    {
        var v = DEFINE_PER_CPU<long>();
        long total = 0;
        var m = Sim.Run(() =>
        {
            this_cpu_inc(v);
            this_cpu_add(v, 9L);
            this_cpu_dec(v);
            for (int c = 0; c < nr_cpu_ids; c++)
                total += per_cpu(v, c);
        });
        Assert.Equal(9, total);
        Sim.NoReports(m);
    }

    [Fact]
    public void This_cpu_ptr_equals_per_cpu_of_smp_processor_id()
    {
        var v = DEFINE_PER_CPU<long>();
        long viaPtr = 0, viaPerCpu = 0;
        var m = Sim.Run(() =>
        {
            preempt_disable();
            this_cpu_ptr(v) = 77;
            viaPtr = this_cpu_ptr(v);
            viaPerCpu = per_cpu(v, smp_processor_id());
            preempt_enable();
        });
        Assert.Equal(77, viaPtr);
        Assert.Equal(77, viaPerCpu);
        Sim.NoReports(m);
    }
}
