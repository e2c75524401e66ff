using System.Linq;
using Examples.NetDriver;
using KernelHarness.Runtime;
using Xunit;
using static KernelHarness.Kernel;

namespace KernelHarness.Conformance.Tests.Irq;

/// <summary>Interrupt delivery, deferred work and the spec's example driver on the reference kernel.</summary>
public sealed class IrqRuntimeTests
{
    private static void NoReports(Machine m) =>
        Assert.True(m.Reports.Count == 0, "unexpected reports:\n" + string.Join("\n", m.Reports.Select(r => r.Render())));

    [Fact]
    public void The_spec_NetDev_probes_takes_interrupts_runs_its_deferred_work_and_removes_without_a_report()
    {
        long packets = 0;
        int status = -1;
        var m = new Machine(new MachineConfig { Seed = 3 });
        m.Run(() =>
        {
            var dev = new NetDev();
            Assert.Equal(0, dev.probe(12));
            for (int i = 0; i < 10; i++)
            {
                Machine.Current.RaiseIrq(12);
                cpu_relax();
                msleep(5);
            }
            msleep(7000); // > 5 s without rx: the watchdog schedules reset_work, which sets link_up
            status = dev.wait_for_link();
            for (int c = 0; c < Arch.nr_cpu_ids; c++)
                packets += dev.packets_on(c);
            dev.remove();
        });
        NoReports(m);
        Assert.Equal(RunOutcome.Completed, m.Outcome);
        Assert.Equal(0, status);
        Assert.Equal(10, packets);
    }

    [Fact]
    public void Random_raising_is_deterministic_from_the_seed_and_only_delivers_when_enabled()
    {
        int Run(ulong seed)
        {
            int calls = 0, whileDisabled = 0;
            bool off = false;
            var m = new Machine(new MachineConfig { Seed = seed, RandomIrqLines = new uint[] { 13, 14 }, RandomIrqPer1024 = 64 });
            m.Run(() =>
            {
                request_irq(13, (q, d) => { calls++; if (off) whileDisabled++; return IRQ_HANDLED; }, 0, "r13", null);
                request_irq(14, (q, d) => { calls++; if (off) whileDisabled++; return IRQ_HANDLED; }, 0, "r14", null);
                for (int i = 0; i < 3000; i++)
                {
                    if (i % 100 == 0)
                    {
                        local_irq_disable();
                        off = true;
                        cpu_relax();
                        cpu_relax();
                        off = false;
                        local_irq_enable();
                    }
                    cpu_relax();
                }
                free_irq(13, null);
                free_irq(14, null);
            });
            NoReports(m);
            Assert.Equal(0, whileDisabled);
            return calls;
        }
        int a = Run(21), b = Run(21), c = Run(22);
        Assert.True(a > 20, $"random raising delivered {a} interrupts");
        Assert.Equal(a, b);
        _ = c;
    }

    [Fact]
    public void Timers_fire_at_their_expiry_in_softirq_context_and_del_timer_stops_them()
    {
        ulong firedAt = 0, armedFor = 0;
        bool serving = false;
        int second = 0;
        var m = new Machine(new MachineConfig { Seed = 4 });
        m.Run(() =>
        {
            var t = new timer_list();
            timer_setup(t, _ => { firedAt = jiffies; serving = in_serving_softirq(); }, 0);
            armedFor = jiffies + 10;
            Assert.Equal(0, mod_timer(t, armedFor));
            Assert.True(timer_pending(t));
            msleep(200);
            Assert.False(timer_pending(t));
            var t2 = new timer_list();
            timer_setup(t2, _ => second++, 0);
            mod_timer(t2, jiffies + 5);
            Assert.Equal(1, del_timer(t2));
            Assert.Equal(0, del_timer_sync(t2));
            msleep(100);
        });
        NoReports(m);
        Assert.True(firedAt >= armedFor && firedAt <= armedFor + 2, $"fired at +{firedAt - armedFor}");
        Assert.True(serving);
        Assert.Equal(0, second);
    }

    [Fact]
    public void Work_runs_in_a_kworker_in_process_context_flush_waits_and_cancel_removes_a_pending_item()
    {
        string comm = "";
        bool task = false;
        int runs = 0;
        bool flushed = false;
        var m = new Machine(new MachineConfig { Seed = 5 });
        m.Run(() =>
        {
            var w = new work_struct();
            INIT_WORK(w, _ => { comm = current.comm; task = in_task(); msleep(20); runs++; });
            Assert.True(schedule_work(w));
            Assert.False(schedule_work(w)); // already pending
            flush_work(w);
            flushed = runs == 1;
            local_irq_disable(); // nothing else runs on this CPU: the item stays pending
            schedule_work(w);
            local_irq_enable();
            Assert.True(cancel_work_sync(w) || runs == 2);
            int after = runs;
            msleep(100);
            Assert.Equal(after, runs);
        });
        NoReports(m);
        Assert.True(flushed);
        Assert.StartsWith("kworker/", comm);
        Assert.True(task);
    }
}
