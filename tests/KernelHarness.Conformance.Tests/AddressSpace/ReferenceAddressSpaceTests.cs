using KernelHarness.Reference.AddressSpace;
using KernelHarness.Runtime;
using Xunit;
using static KernelHarness.Kernel;

namespace KernelHarness.Conformance.Tests.AddressSpace;

/// <summary>The calls of the spec's example (shared/spec/examples/AddressSpace.cs, MapTools), unchanged.</summary>
internal static class MapToolsCopy
{
    public static ulong map_scratch(ulong len)
    {
        ulong addr = do_mmap(null, 0, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, 0);
        if (IS_ERR_VALUE(addr))
            return 0;
        return addr;
    }

    public static int count_writable(mm_struct mm)
    {
        int n = 0;
        mmap_read_lock(mm);
        for (var vma = find_vma(mm, 0); vma != null; vma = find_vma(mm, vma.vm_end))
        {
            if ((vma.vm_flags & VM_WRITE) != 0)
                n++;
        }
        mmap_read_unlock(mm);
        return n;
    }

    public static bool is_user_context() => current.mm != null;

    public static int unmap_hole(mm_struct mm, ulong start, ulong len)
    {
        mmap_write_lock(mm);
        int err = do_munmap(mm, start, len);
        mmap_write_unlock(mm);
        return err;
    }
}

/// <summary>The reference address space on the reference kernel, through the facade.</summary>
public sealed class ReferenceAddressSpaceTests
{
    private static Machine Run(System.Action body, int cpus = 2, ulong seed = 7)
    {
        var m = new Machine(new MachineConfig { Cpus = cpus, Seed = seed });
        var outcome = m.Run(body);
        Assert.Equal(RunOutcome.Completed, outcome);
        return m;
    }

    [Fact]
    public void Spec_MapTools_maps_counts_and_unmaps_without_a_report()
    {
        var m = Run(() =>
        {
            Assert.False(MapToolsCopy.is_user_context());
            var mm = mm_alloc()!;
            UserTasks.exec_mmap(mm);
            Assert.True(MapToolsCopy.is_user_context());
            ulong a = MapToolsCopy.map_scratch(3 * PAGE_SIZE);
            Assert.Equal(mm.mmap_base - 3 * PAGE_SIZE, a);
            Assert.Equal(1, MapToolsCopy.count_writable(mm));
            Assert.Equal(0, MapToolsCopy.unmap_hole(mm, a + PAGE_SIZE, PAGE_SIZE));
            Assert.Equal(2, MapToolsCopy.count_writable(mm));
            Assert.Equal(2, mm.map_count);
            Assert.Equal(2UL, mm.total_vm);
        });
        Assert.Empty(m.Reports);
    }

    [Fact]
    public void User_process_exit_tears_down_its_mm_and_kernel_threads_release_it()
    {
        mm_struct? mm = null;
        var m = Run(() =>
        {
            mm = mm_alloc()!;
            var p = UserTasks.spawn_user_process("proc", mm, () =>
            {
                ulong a = do_mmap(null, 0, 4 * PAGE_SIZE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, 0);
                Assert.False(IS_ERR_VALUE(a));
                msleep(2);
                return 0;
            });
            kthread_stop(p);
            Assert.Equal(0, mm.mm_users);
            Assert.Equal(0, mm.map_count);
            // Whoever still borrows it (idle tasks, this kernel thread) holds mm_count; once a user task
            // runs on every CPU it is gone.
            for (int i = 0; i < 4; i++)
            {
                var q = UserTasks.spawn_user_process($"q{i}", mm_alloc()!, () => { msleep(1); return 0; });
                kthread_stop(q);
            }
        }, cpus: 1);
        Assert.Empty(m.Reports);
        Assert.True(mm!.mm_count >= 0);
        Assert.True(mm.freed || mm.mm_count > 0);
    }

    [Fact]
    public void Mmap_write_lock_waits_for_the_reader_and_the_reader_for_the_writer()
    {
        var m = Run(() =>
        {
            var mm = mm_alloc()!;
            var order = new System.Collections.Generic.List<string>();
            mmap_read_lock(mm);
            var w = kthread_run(_ => { mmap_write_lock(mm); order.Add("writer"); mmap_write_unlock(mm); return 0; }, null, "writer");
            msleep(3);
            order.Add("reader done");
            mmap_read_unlock(mm);
            kthread_stop(w);
            Assert.Equal(new[] { "reader done", "writer" }, order);
            Assert.False(mm.mmap_lock.IsHeld);
            mmput(mm);
            Assert.True(mm.freed);
        });
        Assert.Empty(m.Reports);
    }

    [Fact]
    public void Mmdrop_underflow_is_reported_not_ignored()
    {
        var m = new Machine(new MachineConfig { Cpus = 1 });
        m.Run(() =>
        {
            var mm = mm_alloc()!;
            mmput(mm);
            mmdrop(mm);
        });
        Assert.Contains(m.Reports, r => r.Title.Contains("mm_count underflow", System.StringComparison.Ordinal));
    }
}
