using System.Reflection;
using Examples.NetDriver;
using Examples.ObjectCache;
using KernelHarness.Runtime;
using KernelHarness.Tests.Infrastructure;
using Xunit;
using static KernelHarness.Kernel;

namespace KernelHarness.Tests.SpecExamples;

/// <summary>The student examples of the spec (shared/spec/examples) run on the reference kernel without a report.</summary>
public class SpecExampleTests
{
    private static object? Call(object target, string method, params object?[] args) =>
        target.GetType().GetMethod(method, BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public)!.Invoke(target, args);

    [Fact]
    public void NetDriver_isr_in_hard_irq_context_counts_a_packet_without_a_report()
    {
        var dev = new NetDev();
        object? ret = null;
        long total = 0;
        var m = Sim.Run(() =>
        {
            // What the interrupt entry does around a handler (the irq subsystem is not needed for this part).
            local_irq_disable();
            irq_enter();
            ret = Call(dev, "net_isr", 5, dev);
            irq_exit();
            local_irq_enable();
            for (int cpu = 0; cpu < nr_cpu_ids; cpu++)
                total += dev.packets_on(cpu);
        });
        Assert.Equal(IRQ_HANDLED, ret);
        Assert.Equal(1, total);
        Sim.NoReports(m);
    }

    [Fact]
    public void NetDriver_reset_work_wakes_wait_for_link_without_a_report()
    {
        var dev = new NetDev();
        int ret = -1;
        var m = Sim.Run(() =>
        {
            var work = (work_struct)dev.GetType().GetField("reset_work", BindingFlags.Instance | BindingFlags.NonPublic)!.GetValue(dev)!;
            INIT_WORK(work, _ => Call(dev, "reset_hw"));
            schedule_work(work);
            ret = dev.wait_for_link();
            cancel_work_sync(work);
        });
        Assert.Equal(0, ret);
        Sim.NoReports(m);
    }

    [Fact]
    public void NetDriver_watchdog_rearms_itself_in_softirq_context_without_a_report()
    {
        var dev = new NetDev();
        var m = Sim.Run(() =>
        {
            var timer = (timer_list)dev.GetType().GetField("watchdog", BindingFlags.Instance | BindingFlags.NonPublic)!.GetValue(dev)!;
            timer_setup(timer, _ => Call(dev, "watchdog_fired"), 0);
            mod_timer(timer, jiffies + HZ);
            msleep(3500);
            Assert.True(timer_pending(timer));
            del_timer_sync(timer);
        });
        Sim.NoReports(m);
    }

    [RequiresSubsystemFact("Slab", "Irq")]
    public void NetDriver_probe_interrupt_link_and_remove_run_without_a_report()
    {
        var dev = new NetDev();
        long total = 0;
        var m = Sim.Run(() =>
        {
            Assert.Equal(0, dev.probe(5));
            Machine.Current.RaiseIrq(5);
            msleep(20);
            for (int cpu = 0; cpu < nr_cpu_ids; cpu++)
                total += dev.packets_on(cpu);
            Assert.Equal(0, dev.wait_for_link());
            dev.remove();
        });
        Assert.Equal(1, total);
        Sim.NoReports(m);
    }

    [RequiresSubsystemFact("Slab", "PageAllocator")]
    public void ConnTable_opens_and_closes_connections_without_a_report()
    {
        var table = new ConnTable();
        var m = Sim.Run(() =>
        {
            Assert.Equal(0, table.init());
            var conns = new kptr[10];
            for (uint i = 0; i < 10; i++)
            {
                conns[i] = table.open_conn(i, GFP_KERNEL);
                Assert.NotEqual(NULL, conns[i]);
            }
            foreach (var c in conns)
                table.close_conn(c);
            table.exit();
        });
        Sim.NoReports(m);
    }

    [Fact]
    public void MapTools_sees_a_kernel_thread_as_not_user_context()
    {
        bool user = true;
        var m = Sim.Run(() => user = Examples.AddressSpace.MapTools.is_user_context());
        Assert.False(user);
        Sim.NoReports(m);
    }

    [Fact]
    public void MapTools_maps_counts_and_unmaps_without_a_report()
    {
        ulong addr = 0;
        int writable = -1, unmapped = -1, afterHole = -1;
        bool user = false;
        var m = Sim.Run(() =>
        {
            var mm = mm_alloc()!;
            KernelHarness.Reference.AddressSpace.UserTasks.exec_mmap(mm);
            user = Examples.AddressSpace.MapTools.is_user_context();
            addr = Examples.AddressSpace.MapTools.map_scratch(3 * PAGE_SIZE);
            writable = Examples.AddressSpace.MapTools.count_writable(mm);
            unmapped = Examples.AddressSpace.MapTools.unmap_hole(mm, addr + PAGE_SIZE, PAGE_SIZE);
            afterHole = mm.map_count;
        });
        Assert.True(user);
        Assert.NotEqual(0UL, addr);
        Assert.Equal(1, writable);
        Assert.Equal(0, unmapped);
        Assert.Equal(2, afterHole);
        Sim.NoReports(m);
    }
}
