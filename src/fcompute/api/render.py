"""FC 2.0 JSON of the domain records: the camelCase shapes FC clients read."""

from __future__ import annotations

from fcompute.model import Alias, Function, JsonDict, Service, Trigger, Version


def service(record: Service) -> JsonDict:
    config = record.config
    return {
        "serviceName": record.name,
        "serviceId": record.id,
        "description": config.description,
        "role": config.role,
        "internetAccess": config.internet_access,
        "logConfig": config.log_config or {"project": "", "logstore": ""},
        "vpcConfig": config.vpc_config or {"vpcId": "", "vSwitchIds": [], "securityGroupId": ""},
        "nasConfig": config.nas_config or {"userId": -1, "groupId": -1, "mountPoints": []},
        "tracingConfig": config.tracing_config or {},
        "createdTime": record.created,
        "lastModifiedTime": record.modified,
    }


def function(record: Function) -> JsonDict:
    config = record.config
    return {
        "functionId": record.id,
        "functionName": record.name,
        "description": config.description,
        "runtime": config.runtime,
        "handler": config.handler,
        "timeout": config.timeout,
        "initializer": config.initializer,
        "initializationTimeout": config.initialization_timeout,
        "memorySize": config.memory_size,
        "environmentVariables": dict(config.environment),
        "instanceConcurrency": config.instance_concurrency,
        "instanceType": config.instance_type,
        "diskSize": config.disk_size,
        "caPort": config.ca_port,
        "customContainerConfig": config.custom_container_config,
        "codeChecksum": record.code.checksum,
        "codeSize": record.code.size,
        "createdTime": record.created,
        "lastModifiedTime": record.modified,
    }


def trigger(record: Trigger) -> JsonDict:
    return {
        "triggerName": record.name,
        "triggerId": record.id,
        "description": record.description,
        "triggerType": record.type,
        "triggerConfig": record.config,
        "sourceArn": record.source_arn,
        "invocationRole": record.invocation_role,
        "qualifier": record.qualifier,
        "createdTime": record.created,
        "lastModifiedTime": record.modified,
    }


def version(record: Version) -> JsonDict:
    return {
        "versionId": record.id,
        "description": record.description,
        "createdTime": record.created,
        "lastModifiedTime": record.modified,
    }


def alias(record: Alias) -> JsonDict:
    return {
        "aliasName": record.name,
        "versionId": record.version_id,
        "description": record.description,
        "additionalVersionWeight": dict(record.weights),
        "createdTime": record.created,
        "lastModifiedTime": record.modified,
    }
