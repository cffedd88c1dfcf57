"""The ``limits`` resource: every org limit Salesforce reports, as ``{"Max", "Remaining"}``.

The key list is the one a real org answers (the REST API Developer Guide's
Limits page lists them:
https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_limits.htm;
the maxima are a Developer Edition org's). Only ``DailyApiRequests`` moves:
the emulator counts the calls it is charged for; the others stay at their maximum.
"""

from __future__ import annotations

from typing import Any

# Limit name -> Max, in the order Salesforce answers them (alphabetical).
_STATIC_LIMITS: dict[str, int] = {
    "ActiveScratchOrgs": 3,
    "AnalyticsExternalDataSizeMB": 40960,
    "ConcurrentAsyncGetReportInstances": 200,
    "ConcurrentEinsteinDataInsightsStoryCreation": 5,
    "ConcurrentEinsteinDiscoveryStoryCreation": 2,
    "ConcurrentSyncReportRuns": 20,
    "DailyAnalyticsDataflowJobExecutions": 60,
    "DailyAnalyticsUploadedFilesSizeMB": 51200,
    "DailyAsyncApexExecutions": 250000,
    "DailyAsyncApexTests": 500,
    "DailyBulkApiBatches": 15000,
    "DailyBulkV2QueryFileStorageMB": 976562,
    "DailyBulkV2QueryJobs": 10000,
    "DailyDeliveredPlatformEvents": 10000,
    "DailyDurableGenericStreamingApiEvents": 10000,
    "DailyDurableStreamingApiEvents": 10000,
    "DailyEinsteinDataInsightsStoryCreation": 1000,
    "DailyEinsteinDiscoveryOptimizationJobRuns": 25,
    "DailyEinsteinDiscoveryPredictAPICalls": 50000,
    "DailyEinsteinDiscoveryPredictionsByCDC": 500000,
    "DailyEinsteinDiscoveryStoryCreation": 100,
    "DailyFunctionsApiCallLimit": 235000,
    "DailyGenericStreamingApiEvents": 10000,
    "DailyScratchOrgs": 6,
    "DailyStandardVolumePlatformEvents": 10000,
    "DailyStreamingApiEvents": 10000,
    "DailyWorkflowEmails": 390,
    "DataStorageMB": 5,
    "DurableStreamingApiConcurrentClients": 20,
    "FileStorageMB": 20,
    "HourlyAsyncReportRuns": 1200,
    "HourlyDashboardRefreshes": 200,
    "HourlyDashboardResults": 5000,
    "HourlyDashboardStatuses": 999999999,
    "HourlyLongTermIdMapping": 100000,
    "HourlyManagedContentPublicRequests": 50000,
    "HourlyODataCallout": 10000,
    "HourlyPublishedPlatformEvents": 50000,
    "HourlyPublishedStandardVolumePlatformEvents": 1000,
    "HourlyShortTermIdMapping": 100000,
    "HourlySyncReportRuns": 500,
    "HourlyTimeBasedWorkflow": 50,
    "MassEmail": 10,
    "MonthlyEinsteinDiscoveryStoryCreation": 500,
    "MonthlyPlatformEventsUsageEntitlement": 0,
    "Package2VersionCreates": 6,
    "Package2VersionCreatesWithoutValidation": 500,
    "PermissionSets": 1500,
    "PrivateConnectOutboundCalloutHourlyLimitMB": 0,
    "PublishCallbackUsageInApex": 5000000,
    "SingleEmail": 15,
    "StreamingApiConcurrentClients": 20,
}
LIMIT_NAMES = tuple(sorted([*_STATIC_LIMITS, "DailyApiRequests"]))


def org_limits(api_max: int, api_used: int) -> dict[str, Any]:
    """The ``limits`` answer for an org that has used ``api_used`` of ``api_max`` calls."""
    answer: dict[str, Any] = {}
    for name in LIMIT_NAMES:
        if name == "DailyApiRequests":
            answer[name] = {"Max": api_max, "Remaining": max(api_max - api_used, 0)}
        else:
            answer[name] = {"Max": _STATIC_LIMITS[name], "Remaining": _STATIC_LIMITS[name]}
    # PermissionSets nests the custom permission sets' own limit.
    answer["PermissionSets"]["CreateCustom"] = {"Max": 1000, "Remaining": 1000}
    return answer
